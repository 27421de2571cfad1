"""System checks `manage.py check --deploy` runs: what must not reach production."""

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError

from triggers.execute.demo import DEMO_SLUG
from triggers.models import Trigger
from whatsapp.models import Instance


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


@register(deploy=True)
def check_settings_instance_token(app_configs=None, **kwargs) -> list[Warning]:
    """Return a warning when `EVOLUTION_GO_INSTANCE_TOKEN` is set but no instance holds it.

    The settings' token makes the instance `default` once; after that the
    instance's token is managed in the admin, the API or the command, and a
    changed setting alone changes nothing.
    """
    token = settings.EVOLUTION_GO_INSTANCE_TOKEN
    try:
        held = not token or not Instance.objects.exists() or Instance.objects.holding(token) is not None
    except DatabaseError:
        return []
    if held:
        return []
    return [
        Warning(
            "EVOLUTION_GO_INSTANCE_TOKEN is held by no WhatsApp instance: changing it changed nothing.",
            hint="Rotate the instance's token instead: python manage.py evolution instance_update "
            "--name default --token <the new token> (or the admin's WhatsApp instances page).",
            id="triggers.W002",
        )
    ]
