"""Give every execution its own random send id (the seed of its WhatsApp message ids).

Added in three steps, as Django recommends for a unique field with a random
default: nullable, one value per existing row, then required and unique.
"""

import uuid

from django.db import migrations, models


def give_each_execution_its_own_id(apps, schema_editor):
    TriggerExecution = apps.get_model("triggers", "TriggerExecution")
    for execution in TriggerExecution.objects.filter(send_id__isnull=True).only("pk").iterator():
        TriggerExecution.objects.filter(pk=execution.pk).update(send_id=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("triggers", "0013_strict_json_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="triggerexecution",
            name="send_id",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(give_each_execution_its_own_id, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="triggerexecution",
            name="send_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
