"""The collect step: the registry read page by page from the cursor, each page stored with
one INSERT, until the run is complete."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from kyc import outbox
from kyc.models import Certificate
from providers.sunbird import client
from providers.sunbird.models import IssuanceRun, IssuanceStep, RunCertificate
from providers.sunbird.schemas import CertRecord
from providers.sunbird.services.common import (
    MAX_PAGES_PER_ROUND,
    PROVIDER,
    StepFailed,
    StepResult,
    collect_timeout,
    quiet_period,
)
from providers.sunbird.services.issue import _of_this_run
from providers.sunbird.services.session import _Session


def certificates_store(*, run: IssuanceRun, records: list[CertRecord]) -> None:
    """One INSERT for a page of certificates; ones already stored are left alone. Each new
    one sends certificate.received (one more INSERT, same transaction), when an endpoint
    of the merchant listens."""
    with transaction.atomic():
        wanted = outbox.wanted(merchant_id=run.merchant_id, event_type=outbox.CERTIFICATE_RECEIVED)
        mine = Certificate.objects.filter(
            merchant_id=run.merchant_id, provider=PROVIDER, external_id__in=[r.id for r in records]
        )
        stored = set(mine.values_list("external_id", flat=True)) if wanted else set()
        Certificate.objects.bulk_create(
            [
                Certificate(
                    merchant_id=run.merchant_id,
                    provider=PROVIDER,
                    slug=run.certificate_name,
                    external_id=r.id,
                    recipient_id=r.recipient_id,
                    recipient_name=r.recipient_name,
                    course_id=r.course_id or run.course_id,
                    batch_id=r.batch_id or run.batch_id,
                    download_url=r.download_url[:1000],
                )
                for r in records
            ],
            ignore_conflicts=True,
        )
        if wanted:
            outbox.certificates_received_events(
                certs=mine.exclude(external_id__in=stored).order_by("pk")
            )


def _collected(run: IssuanceRun) -> int:
    return RunCertificate.objects.filter(run=run).count()


def _store_page(run: IssuanceRun, records: list[CertRecord]) -> int:
    """Store the page's certificates of this run (one INSERT each table); how many."""
    mine = _of_this_run(run, records)
    if mine:
        certificates_store(run=run, records=mine)
        RunCertificate.objects.bulk_create(
            [RunCertificate(run=run, external_id=r.id) for r in mine], ignore_conflicts=True
        )
    return len(mine)


def _step_collect(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    """One poll round: read pages from the cursor, store each page, decide if complete."""
    s = _Session(run.merchant)
    size = s.cfg.page_size
    offset = run.collect_offset
    total = 0
    pages = 0
    while pages < MAX_PAGES_PER_ROUND:

        def read(t: str, o: int = offset) -> client.CertPage:
            return client.cert_search(
                s.cfg,
                batch_id=run.batch_id,
                course_id=run.course_id,
                offset=o,
                limit=size,
                user_token=t,
            )

        page = s.call(read)
        pages += 1
        total = page.total
        if page.items:
            _store_page(run, page.items)
            offset += len(page.items)
            # Progress for the page's bar, and a heartbeat so reconcile leaves us alone.
            IssuanceRun.objects.filter(pk=run.pk).update(
                collected_count=_collected(run),
                registry_count=total,
                collect_offset=offset,
                heartbeat_at=timezone.now(),
            )
        if len(page.items) < size:
            break
    collected = _collected(run)
    if offset > total:
        offset = 0  # the registry shrank (entries replaced): read it all again next round
    now = timezone.now()
    grew = collected != run.collected_count or total != run.registry_count
    last_growth = now if grew or run.last_growth_at is None else run.last_growth_at
    stable = 0 if grew else run.stable_polls + 1
    if run.expected_count:
        target: int | None = run.expected_count
        finished = collected >= run.expected_count
    else:
        # No expected count: done once this run's certificates stopped arriving for the
        # quiet period (measured in time, not polls).
        target = None
        finished = collected > 0 and now - last_growth >= quiet_period()
    polls = int((step.answer_summary or {}).get("polls", 0)) + 1
    request = {
        "method": "POST",
        "path": s.cfg.path("cert_search"),
        "batchId": run.batch_id,
        "courseId": run.course_id,
        "page_size": size,
    }
    answer = {
        "polls": polls,
        "registry_count": total,
        "collected": collected,
        "expected": run.expected_count,
        "pages_last_round": pages,
    }
    if not finished and step.started_at and now - step.started_at > collect_timeout():
        # The cursor and what arrived are kept: a retry continues where this stopped.
        raise StepFailed(
            f"{collected} of {target if target else '?'} arrived within {collect_timeout()}; "
            "retry to keep waiting."
        )
    return StepResult(
        request=request,
        answer=answer,
        finished=finished,
        run_updates={
            "registry_count": total,
            "collected_count": collected,
            "collect_offset": offset,
            "stable_polls": stable,
            "last_growth_at": last_growth,
        },
    )
