"""Several WhatsApp numbers: triggers, breakers and sent messages belong to an instance.

A deployment configured by settings alone (`EVOLUTION_GO_INSTANCE_TOKEN`) gets an
instance named `default` holding that token; each `whatsapp` trigger is bound to
the instance holding its secret (one named after the trigger is made when none
does), a trigger that only sends to the only instance; the one breaker row and
the messages sent so far go to `default`.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

WHATSAPP = "whatsapp"


def _free_name(Instance, slug: str) -> str:
    base, n = slug[:44] or "instance", 1
    name = base
    while Instance.objects.filter(name=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def bind(apps, schema_editor) -> None:
    Instance = apps.get_model("whatsapp", "Instance")
    Trigger = apps.get_model("triggers", "Trigger")
    GatewayBreaker = apps.get_model("triggers", "GatewayBreaker")
    SentMessage = apps.get_model("triggers", "SentMessage")
    default = None
    if token := settings.EVOLUTION_GO_INSTANCE_TOKEN:
        default = Instance.objects.filter(token=token).first() or Instance.objects.create(
            name="default", token=token
        )
    for trigger in Trigger.objects.filter(source=WHATSAPP, instance__isnull=True):
        instance = Instance.objects.filter(token=trigger.secret).first()
        if instance is None:
            instance = Instance.objects.create(name=_free_name(Instance, trigger.slug), token=trigger.secret)
        Trigger.objects.filter(pk=trigger.pk).update(instance=instance, next_secret="")
    if Instance.objects.count() == 1:
        only = Instance.objects.get()
        sends = models.Q(action_type=WHATSAPP) | models.Q(action_payload__reply_via_whatsapp=True)
        Trigger.objects.filter(sends, instance__isnull=True).update(instance=only)
        SentMessage.objects.filter(instance__isnull=True).update(instance=only)
    if default is not None:
        GatewayBreaker.objects.filter(pk=1).update(instance=default)
    # A breaker with no instance guards nothing: its waiting sends are released by the next tick.
    GatewayBreaker.objects.filter(instance__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("triggers", "0022_execution_cap_slot"),
        ("whatsapp", "0001_instances"),
    ]

    operations = [
        migrations.DeleteModel(name="WatermarkState"),
        migrations.AddField(
            model_name="gatewaybreaker",
            name="instance",
            field=models.OneToOneField(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="breaker",
                to="whatsapp.instance",
            ),
        ),
        migrations.AddField(
            model_name="sentmessage",
            name="instance",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="messages",
                to="whatsapp.instance",
            ),
        ),
        migrations.AddField(
            model_name="trigger",
            name="instance",
            field=models.ForeignKey(
                blank=True,
                help_text="The WhatsApp number this trigger listens to (source whatsapp) and sends through. "
                "Blank while there is one instance: that one.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="triggers",
                to="whatsapp.instance",
            ),
        ),
        migrations.RunPython(bind, migrations.RunPython.noop),
    ]
