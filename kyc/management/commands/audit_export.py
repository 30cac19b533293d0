"""Export one merchant's audit trail for a date range as CSV or JSON (the export is
itself written to the audit trail)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime

from kyc.audit import EXPORT_FORMATS, audit_export
from kyc.models import Merchant


def _when(value: str | None, name: str) -> dt.date | dt.datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value) if "T" in value or " " in value else parse_date(value)
    if parsed is None:
        raise CommandError(f"--{name}: use YYYY-MM-DD or an ISO 8601 date and time.")
    return parsed


class Command(BaseCommand):
    help = "Export a merchant's audit entries (--since/--until dates are whole days)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", required=True, help="The merchant's slug.")
        parser.add_argument("--since", help="First day (YYYY-MM-DD) or instant (ISO 8601).")
        parser.add_argument("--until", help="Last day, included (YYYY-MM-DD), or instant.")
        parser.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
        parser.add_argument("--output", help="Write to this file instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        merchant = Merchant.objects.filter(slug=options["merchant"]).first()
        if merchant is None:
            raise CommandError(f"No merchant with the slug {options['merchant']!r}.")
        export = audit_export(
            merchant=merchant,
            actor=None,
            since=_when(options.get("since"), "since"),
            until=_when(options.get("until"), "until"),
            format=options["format"],
            via="manage.py audit_export",
        )
        if options.get("output"):
            Path(options["output"]).write_text(export.body, encoding="utf-8")
            self.stderr.write(f"{export.count} entries written to {options['output']}")
        else:
            self.stdout.write(export.body, ending="" if export.body.endswith("\n") else "\n")
