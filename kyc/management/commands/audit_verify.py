"""Walk every audit chain (one per merchant, one for entries without a merchant) and
name the first broken link: an edited, deleted or reordered entry. Exit code 1 if any."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kyc.audit import ChainReport, chain_merchant_ids, chain_verify
from kyc.models import Merchant


class Command(BaseCommand):
    help = "Verify the audit trail's hash chains; exit code 1 names the first broken entry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", help="Only this merchant's chain (its slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        slugs = dict(Merchant.objects.values_list("pk", "slug"))
        if options.get("merchant"):
            merchant = Merchant.objects.filter(slug=options["merchant"]).first()
            if merchant is None:
                raise CommandError(f"No merchant with the slug {options['merchant']!r}.")
            ids: list[int | None] = [merchant.pk]
        else:
            ids = chain_merchant_ids()
        broken: list[ChainReport] = []
        for mid in ids:
            report = chain_verify(mid)
            name = f"merchant {slugs.get(mid, mid)}" if mid is not None else "no merchant"
            if report.ok:
                legacy = (
                    f", {report.legacy} legacy entries before the chain" if report.legacy else ""
                )
                if report.deleted:
                    legacy += f", {report.deleted} deleted by staff (each deletion audited)"
                self.stdout.write(
                    f"{name}: intact, {report.checked} entries checked{legacy}; "
                    f"head {report.head or '-'}"
                )
            else:
                broken.append(report)
                self.stderr.write(
                    f"{name}: BROKEN at audit entry #{report.first_broken_id}: {report.reason} "
                    f"({report.checked} entries before it are intact)"
                )
        if not ids:
            self.stdout.write("No audit entries.")
        if broken:
            first = broken[0]
            raise CommandError(
                f"{len(broken)} audit chain(s) broken; first broken entry #{first.first_broken_id}",
                returncode=1,
            )
