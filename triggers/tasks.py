"""Background task entry points (Django's Tasks API)."""

from django_tasks import task

from triggers.executor import execute


@task()
def run_execution(execution_id: int) -> str | None:
    """Return the final status of the execution after running it (see `execute`)."""
    return execute(execution_id)


def enqueue_execution(execution_id: int) -> None:
    """Queue the execution's task; call it inside the transaction that creates the row.

    With the database backend the task row commits (or rolls back) together
    with the execution, so an accepted event always has its task.
    """
    run_execution.enqueue(execution_id)
