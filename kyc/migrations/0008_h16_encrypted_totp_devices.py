"""Staff authenticators move from django-otp's TOTPDevice (hex key in clear) to
kyc.StaffTOTPDevice (key encrypted), and the plaintext rows are deleted.

django_otp.plugins.otp_totp is no longer installed, so its table is read with SQL, and only
where an earlier install created it. Every device keeps working: same key, same counters.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import kyc.crypto
import kyc.models

OLD_TABLE = "otp_totp_totpdevice"
COPIED = (
    "user_id",
    "name",
    "confirmed",
    "key",
    "step",
    "t0",
    "digits",
    "tolerance",
    "drift",
    "last_t",
    "throttling_failure_timestamp",
    "throttling_failure_count",
    "last_used_at",
)


def move_plaintext_devices(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return
    StaffTOTPDevice = apps.get_model("kyc", "StaffTOTPDevice")
    table = connection.ops.quote_name(OLD_TABLE)
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608
        names = [c[0] for c in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    for row in rows:
        device = StaffTOTPDevice.objects.create(**{k: row[k] for k in COPIED if k in row})
        if row.get("created_at") is not None:  # auto_now_add stamped "now" on create
            StaffTOTPDevice.objects.filter(pk=device.pk).update(created_at=row["created_at"])
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {table}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("kyc", "0007_h3_audit_chain_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="StaffTOTPDevice",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="The human-readable name of this device.", max_length=64
                    ),
                ),
                (
                    "confirmed",
                    models.BooleanField(default=True, help_text="Is this device ready for use?"),
                ),
                (
                    "throttling_failure_timestamp",
                    models.DateTimeField(
                        blank=True,
                        default=None,
                        help_text="A timestamp of the last failed verification attempt. Null if last attempt succeeded.",
                        null=True,
                    ),
                ),
                (
                    "throttling_failure_count",
                    models.PositiveIntegerField(
                        default=0, help_text="Number of successive failed attempts."
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        auto_now_add=True,
                        help_text="The date and time when this device was initially created in the system.",
                        null=True,
                    ),
                ),
                (
                    "last_used_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="The most recent date and time this device was used.",
                        null=True,
                    ),
                ),
                (
                    "key",
                    kyc.crypto.EncryptedTextField(
                        default=kyc.models.new_totp_key, validators=[kyc.models.totp_key_validator]
                    ),
                ),
                ("step", models.PositiveSmallIntegerField(default=30)),
                ("t0", models.BigIntegerField(default=0)),
                ("digits", models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)),
                ("tolerance", models.PositiveSmallIntegerField(default=1)),
                ("drift", models.SmallIntegerField(default=0)),
                ("last_t", models.BigIntegerField(default=-1)),
                (
                    "user",
                    models.ForeignKey(
                        help_text="The user that this device belongs to.",
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "staff authenticator",
                "abstract": False,
            },
        ),
        migrations.RunPython(move_plaintext_devices, migrations.RunPython.noop),
    ]
