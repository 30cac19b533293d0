"""API keys get scopes. Keys that exist already keep what they could do: read and write
(AddField writes the default into every existing row); none gets `pii` silently."""

import kyc.models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("kyc", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(
                blank=True,
                default=kyc.models.default_api_key_scopes,
                help_text="What the key may do: read, write, pii (decrypted identity values).",
            ),
        ),
    ]
