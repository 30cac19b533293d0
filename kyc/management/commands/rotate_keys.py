"""Re-encrypt every encrypted value with the first key of FIELD_ENCRYPTION_KEYS.

Procedure: put the new key first (keep the old ones after it), run this, then
remove the old keys. Works at the SQL level, batch by batch, without loading models.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from kyc.crypto import encrypted_fields, rotate

BATCH = 500


class Command(BaseCommand):
    help = "Re-encrypt all encrypted fields with the first FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            fields = encrypted_fields(model)
            if not fields:
                continue
            table = connection.ops.quote_name(model._meta.db_table)
            pk = connection.ops.quote_name(str(model._meta.pk.column))
            cols = [connection.ops.quote_name(str(f.column)) for f in fields]
            last = None
            while True:
                with transaction.atomic(), connection.cursor() as cur:
                    where = f"WHERE {pk} > %s " if last is not None else ""
                    cur.execute(
                        f"SELECT {pk}, {', '.join(cols)} FROM {table} {where}ORDER BY {pk} LIMIT {BATCH}",  # noqa: S608
                        [last] if last is not None else [],
                    )
                    rows = cur.fetchall()
                    for row in rows:
                        values = [rotate(v) if v else v for v in row[1:]]
                        sets = ", ".join(f"{c} = %s" for c in cols)
                        cur.execute(f"UPDATE {table} SET {sets} WHERE {pk} = %s", [*values, row[0]])  # noqa: S608
                        total += 1
                if not rows:
                    break
                last = rows[-1][0]
        self.stdout.write(f"Re-encrypted {total} row(s).")
