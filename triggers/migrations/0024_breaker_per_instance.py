"""Every breaker belongs to an instance (after 0023 bound or removed the old one); each
instance's sends of the last 24 hours are found by an index (its cap and its watermark)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    # Apart from 0023's data step: PostgreSQL alters no table with updates pending in the transaction.
    dependencies = [("triggers", "0023_whatsapp_instances")]

    operations = [
        migrations.AlterField(
            model_name="gatewaybreaker",
            name="instance",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE, related_name="breaker", to="whatsapp.instance"
            ),
        ),
        migrations.AddIndex(
            model_name="sentmessage",
            index=models.Index(fields=["instance", "sent_at"], name="triggers_sent_instance_at"),
        ),
    ]
