"""Recompute every record's review status with kyc.review's rule (e.g. once after an
upgrade, for records whose status was stored by older code). Each change is audited."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kyc.models import KYCRecord
from kyc.review import record_review_refresh_by_id


class Command(BaseCommand):
    help = "Recompute the review status of every record (or one merchant's); prints the changes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", help="Only this merchant's records (its slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        qs = KYCRecord.objects.all()
        if options.get("merchant"):
            qs = qs.filter(merchant__slug=options["merchant"])
        changed = 0
        for pk, before in qs.order_by("pk").values_list("pk", "review_status").iterator():
            after = record_review_refresh_by_id(record_id=pk, reason="recomputed")
            if after != before:
                changed += 1
                self.stdout.write(f"record #{pk}: {before} -> {after}")
        self.stdout.write(f"{changed} record(s) changed.")
