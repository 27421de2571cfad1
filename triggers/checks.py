"""System checks `manage.py check --deploy` runs: what must not reach production."""

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError

from triggers.execute.demo import DEMO_SLUG
from triggers.models import Trigger


@register(Tags.security, deploy=True)
def check_demo_trigger(app_configs=None, **kwargs) -> list[Warning]:
    """Return a warning when the demo trigger (public URL and secret) exists with DEBUG off."""
    if settings.DEBUG:
        return []
    try:
        exists = Trigger.objects.filter(slug=DEMO_SLUG).exists()
    except DatabaseError:  # no tables yet: nothing to report
        return []
    if not exists:
        return []
    return [
        Warning(
            "The demo trigger exists: its webhook URL and secret are public.",
            hint=f"It only ever sends to the local sandbox, but delete it in production: "
            f"python manage.py shell -c \"from triggers.models import Trigger; "
            f"Trigger.objects.filter(slug='{DEMO_SLUG}').delete()\"",
            id="triggers.W001",
        )
    ]
