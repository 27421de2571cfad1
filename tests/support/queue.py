"""What the task backend holds, whichever it is (the database queue or Redis)."""

import django_rq
from django.conf import settings
from django_tasks_db.models import DBTaskResult


def queued_execution_ids() -> list[int]:
    """Return the execution id of every queued task, whichever backend holds them."""
    if settings.TASKS_BACKEND == "rq":
        return [job.args[0] for job in django_rq.get_queue("default").get_jobs()]
    return [task.args_kwargs["args"][0] for task in DBTaskResult.objects.all()]


def drop_queued_tasks() -> None:
    """Forget every queued task, as a crash or a flushed Redis would."""
    if settings.TASKS_BACKEND == "rq":
        django_rq.get_queue("default").empty()
    else:
        DBTaskResult.objects.all().delete()
