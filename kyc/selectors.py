"""Reads. Anything that lists or fetches for a user or key is scoped to its merchant here."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, QuerySet

from kyc import queued
from kyc.models import ApiKey, KYCRecord, Merchant, TransferRequest
from kyc.status import Status, is_terminal

log = logging.getLogger(__name__)

PAGE_STATE_TTL = 3600


def transfer_page_url(transfer: TransferRequest) -> str:
    """The customer's page. Built from the token alone: going through the provider's URLs
    would load the account (and decrypt its settings) per row of a list."""
    return f"{settings.PUBLIC_URL}/t/{transfer.page_token}/"


def merchants_for_user(user: Any) -> QuerySet[Merchant]:
    # hasattr, not getattr(..., False): any false default (False, None) read the same, a
    # mutant no test could see (make mutate); an object without the attribute gets nothing.
    if not (hasattr(user, "is_authenticated") and user.is_authenticated):
        return Merchant.objects.none()
    if user.is_superuser:
        return Merchant.objects.all()
    return Merchant.objects.filter(memberships__user=user)


def merchant_ids_for_user(user: Any) -> list[int]:
    # pragma below: values_list(flat=True) without a field name yields the first column,
    # the pk, so dropping "pk" is a mutant no test can tell apart.
    return list(merchants_for_user(user).values_list("pk", flat=True))  # pragma: no mutate


def api_key_for_token(raw: str) -> ApiKey | None:
    """Find an active key by its visible prefix, then compare hashes in constant time."""
    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != "kp":
        return None
    key = (
        ApiKey.objects.select_related("merchant")
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    digest = hashlib.sha256(raw.encode()).hexdigest()
    return key if hmac.compare_digest(digest, key.hashed) else None


def transfers_for_merchant(merchant: Merchant) -> QuerySet[TransferRequest]:
    return TransferRequest.objects.filter(merchant=merchant).select_related("record")


def records_for_merchant(merchant: Merchant) -> QuerySet[KYCRecord]:
    return KYCRecord.objects.filter(merchant=merchant)


def page_state_key(page_token: str) -> str:
    return f"transfer-page:{page_token}"


def page_html_key(page_token: str, language: str, is_phone: bool) -> str:
    """The rendered status fragment, per language and device (kyc/views.py)."""
    return f"{page_state_key(page_token)}:html:{language}:{'phone' if is_phone else 'desk'}"


# What the card shows of the merchant (portal/branding.py): the state fingerprints it, so a
# branding save (which drops the states, page_states_forget) gives open pages a new card.
BRAND_FIELDS = (
    "merchant__name",
    "merchant__brand_color",
    "merchant__logo_type",
    "merchant__support_contact",
    "merchant__privacy_url",
    "merchant__restart_url",
    "merchant__review_sla_hours",
)


def brand_digest(merchant: Merchant) -> str:
    values = [str(getattr(merchant, f.removeprefix("merchant__"))) for f in BRAND_FIELDS]
    return hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:16]


def page_states_forget(*, merchant_id: int) -> int:
    """Drop the cached state of every open request of this merchant (after a branding
    save): the next poll reads the request again, gets a new ETag and a re-rendered card,
    instead of the old card for up to PAGE_STATE_TTL. Finished requests no longer poll."""
    from kyc.status import TERMINAL

    tokens = (
        TransferRequest.objects.filter(merchant_id=merchant_id)
        .exclude(status__in=TERMINAL)
        .values_list("page_token", flat=True)
        .iterator(chunk_size=500)
    )
    dropped, batch = 0, []
    for token in tokens:
        batch.append(page_state_key(token))
        if len(batch) == 500:
            cache.delete_many(batch)
            dropped, batch = dropped + len(batch), []
    if batch:
        cache.delete_many(batch)
    return dropped + len(batch)


def transfer_page_state(
    *, page_token: str, refresh: bool = False, transfer: TransferRequest | None = None
) -> dict[str, Any] | None:
    """What decides the customer page's status fragment, from the shared cache.

    Services refresh it after every committed change, so a poll costs no database
    round trip while nothing changes. It holds nothing the customer must not see
    rendered raw: the failure code is shown only through kyc.customer's reason table.
    `v` fingerprints the rest: the rendered fragment cached under page_html_key is
    reused (and answered 304) only while `v` is unchanged.
    `transfer`: the row as the caller just committed it, its merchant loaded (kyc.intake
    locks it with its merchant): the state is refreshed from it, without reading it again.
    """
    key = page_state_key(page_token)
    if not refresh:
        try:
            state = cache.get(key)
        except Exception:  # cache down: the database answers, slower but right
            state = None
        if state is not None:
            return state
    t = transfer or (
        TransferRequest.objects.filter(page_token=page_token)
        .select_related("merchant")
        .only(  # what the fragment depends on (the pk always comes along)
            "status",
            "failure_code",
            "expires_at",
            "provider",
            "redirect_url",
            "items",
            "deep_link",
            "qr_svg",
            "merchant__default_language",
            *BRAND_FIELDS,
        )
        .first()
    )
    if t is None:
        return None
    review_since = ""
    if t.status == "review":  # kyc.status.Status.REVIEW
        entered = (
            t.events.filter(status="review")
            .order_by("created_at", "id")
            .values_list("created_at", flat=True)
            .first()
        )
        review_since = entered.isoformat() if entered else ""
    state = {
        "status": t.status,
        "terminal": is_terminal(t.status),
        "provider": t.provider,
        "failure_code": t.failure_code,
        "expires_at": t.expires_at.isoformat() if t.expires_at else "",
        "redirect_url": t.redirect_url,
        "items": list(t.items or []),
        "review_since": review_since,
        "language": t.merchant.default_language,
        "brand": brand_digest(t.merchant),
        # The link and the code change the pending fragment; only a digest is kept here.
        "link": hashlib.sha256(f"{t.deep_link}|{t.qr_svg}".encode()).hexdigest()[:16],
    }
    state["v"] = hashlib.sha256(
        json.dumps(state, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]
    # After a delivery's commit, in its one Redis round trip (kyc.queued.together); never
    # raises: with the cache down pages fall back to the database until it is back.
    queued.cache_set(key, state, PAGE_STATE_TTL, what="page state")
    return state


# --- the review queue (admin "Needs review", admin index, merchant dashboard) -----------

# Requests in review that belong to a record. Module level, which mutation testing leaves
# alone: without `record__isnull` the subquery below also yields NULLs, which `pk IN (...)`
# never matches, so dropping it changes no answer (only the plan), a mutant no test can see.
REQUEST_IN_REVIEW_OF_A_RECORD: dict[str, Any] = {"status": Status.REVIEW, "record__isnull": False}


def review_queue(merchant_ids: Any) -> QuerySet[KYCRecord]:
    """Records awaiting a staff decision at these merchants, oldest wait first.

    A record waits when its review status is "In review" or one of its requests is in
    review; it waits since `review_since` (set when it entered review), else its creation.
    """
    from django.db.models import Q
    from django.db.models.functions import Coalesce

    waiting = Q(review_status=KYCRecord.Review.IN_REVIEW) | Q(
        pk__in=TransferRequest.objects.filter(**REQUEST_IN_REVIEW_OF_A_RECORD).values("record_id")
    )
    return (
        KYCRecord.objects.filter(merchant_id__in=merchant_ids, erased_at__isnull=True)
        .filter(waiting)
        .annotate(waiting_since=Coalesce("review_since", "created_at"))
        .order_by("waiting_since", "pk")
    )


def reviews_waiting(merchant: Merchant) -> tuple[int, Any]:
    """(how many reviews wait at this merchant, how long the oldest has waited as a
    timedelta, or None when none waits): the merchant dashboard's and admin index's count."""
    from django.db.models import Min
    from django.utils import timezone

    agg = review_queue([merchant.pk]).aggregate(n=Count("pk"), oldest=Min("waiting_since"))
    oldest = agg["oldest"]
    return agg["n"], (timezone.now() - oldest) if oldest else None


# --- the merchant dashboard (aggregates only: the query count never grows with the data) ---

import datetime as dt  # noqa: E402

from django.db import connection  # noqa: E402
from django.db.models import (  # noqa: E402
    Aggregate,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
)
from django.db.models.functions import Coalesce, TruncDate  # noqa: E402
from django.utils import timezone  # noqa: E402

from kyc import registry  # noqa: E402
from kyc.models import TransferEvent  # noqa: E402
from kyc.status import Status  # noqa: E402

# How the dashboard groups statuses: what happened to a verification, in four words.
OUTCOME_OPEN = "open"
OUTCOME_COMPLETED = "completed"
OUTCOME_FAILED = "failed"
OUTCOME_ABANDONED = "abandoned"
OUTCOMES: tuple[str, ...] = (OUTCOME_COMPLETED, OUTCOME_FAILED, OUTCOME_ABANDONED, OUTCOME_OPEN)
OUTCOME_LABELS: dict[str, str] = {
    OUTCOME_COMPLETED: "Completed",
    OUTCOME_FAILED: "Failed or rejected",
    OUTCOME_ABANDONED: "Expired, declined or cancelled",
    OUTCOME_OPEN: "Still open",
}
OUTCOME_OF_STATUS: dict[str, str] = {
    Status.CREATED: OUTCOME_OPEN,
    Status.PENDING: OUTCOME_OPEN,
    Status.ACCEPTED: OUTCOME_OPEN,
    Status.PROCESSING: OUTCOME_OPEN,
    Status.REVIEW: OUTCOME_OPEN,
    Status.COMPLETED: OUTCOME_COMPLETED,
    Status.FAILED: OUTCOME_FAILED,
    Status.REJECTED: OUTCOME_FAILED,
    Status.EXPIRED: OUTCOME_ABANDONED,
    Status.DECLINED: OUTCOME_ABANDONED,
    Status.CANCELLED: OUTCOME_ABANDONED,
}
# The customer accepted: these statuses come only after an acceptance. A request that
# ended failed/expired/cancelled counts as accepted when its timeline passed through one.
ACCEPTED_OR_LATER: tuple[str, ...] = (
    Status.ACCEPTED,
    Status.PROCESSING,
    Status.REVIEW,
    Status.COMPLETED,
    Status.REJECTED,
)
ENDED_AFTER_MAYBE_ACCEPTING: tuple[str, ...] = (Status.FAILED, Status.EXPIRED, Status.CANCELLED)


def outcome_of(status: str) -> str:
    return OUTCOME_OF_STATUS.get(status, OUTCOME_OPEN)


def dashboard_since(*, days: int, now: dt.datetime | None = None) -> dt.datetime:
    """Start of the window: midnight UTC `days - 1` days ago (so today is the last day)."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days - 1)


def dashboard_counts(
    merchant: Merchant, *, days: int = 30, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Requests created in the window, counted per day (UTC), status and provider, with how
    many of them the customer opened: one grouped query that both the per-day chart and the
    funnel read (at most days x statuses x providers rows, whatever the volume)."""
    since = dashboard_since(days=days, now=now)
    rows = (
        TransferRequest.objects.filter(merchant=merchant, created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("day", "status", "provider")
        # COUNT(*) and COUNT(opened_at): every column read is in the dashboard index, so
        # PostgreSQL answers from the index alone (no table rows read).
        .annotate(n=Count("*"), opened=Count("opened_at"))
        .order_by()
    )
    return [dict(r) for r in rows]


def dashboard_daily(
    merchant: Merchant,
    *,
    days: int = 30,
    now: dt.datetime | None = None,
    counts: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Verifications created per day (UTC) for `days` days, counted by outcome, oldest first.
    Every day is present, empty ones as zeros. From `counts` (dashboard_counts) when given."""
    since = dashboard_since(days=days, now=now)
    if counts is None:
        counts = dashboard_counts(merchant, days=days, now=now)
    by_day: dict[dt.date, dict[str, int]] = {
        (since + dt.timedelta(days=i)).date(): dict.fromkeys(OUTCOMES, 0) for i in range(days)
    }
    for row in counts:
        if row["day"] in by_day:
            by_day[row["day"]][outcome_of(row["status"])] += row["n"]
    return [
        {"day": day, "counts": counts_, "total": sum(counts_.values())}
        for day, counts_ in sorted(by_day.items())
    ]


def dashboard_funnel(
    merchant: Merchant,
    *,
    days: int = 30,
    now: dt.datetime | None = None,
    counts: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Per provider, of the requests created in the window: how many were opened by the
    customer, accepted, completed. Each stage counts the later ones too (a customer who
    accepted in the app opened the request even without the page). A request that ended
    failed, expired or cancelled counts as accepted when its timeline passed through
    acceptance. From `counts` (dashboard_counts) plus one query for those timelines."""
    since = dashboard_since(days=days, now=now)
    if counts is None:
        counts = dashboard_counts(merchant, days=days, now=now)
    # The few that ended badly after accepting: a semi-join on the (partial) event index.
    passed = {
        r["provider"]: r
        for r in TransferRequest.objects.filter(
            merchant=merchant, created_at__gte=since, status__in=ENDED_AFTER_MAYBE_ACCEPTING
        )
        .filter(
            Exists(
                TransferEvent.objects.filter(transfer=OuterRef("pk"), status__in=ACCEPTED_OR_LATER)
            )
        )
        .values("provider")
        .annotate(n=Count("pk"), unopened=Count("pk", filter=Q(opened_at__isnull=True)))
        .order_by()
    }
    funnel: dict[str, dict[str, int]] = {}
    for row in counts:
        f = funnel.setdefault(
            row["provider"], {"created": 0, "opened": 0, "accepted": 0, "completed": 0}
        )
        f["created"] += row["n"]
        f["opened"] += row["opened"]
        if row["status"] in ACCEPTED_OR_LATER:
            f["accepted"] += row["n"]
            f["opened"] += row["n"] - row["opened"]  # accepted without opening our page
        if row["status"] == Status.COMPLETED:
            f["completed"] += row["n"]
    for provider, r in passed.items():
        if provider in funnel:
            funnel[provider]["accepted"] += r["n"]
            funnel[provider]["opened"] += r["unopened"]
    labels = dict(TransferRequest._meta.get_field("provider").flatchoices)
    return [{"provider": p, "label": str(labels.get(p, p)), **f} for p, f in sorted(funnel.items())]


def _median_sqlite(qs: QuerySet[TransferRequest], count: int) -> dt.timedelta | None:
    """The median without percentile_cont: the one or two middle rows, one bounded query."""
    if not count:
        return None
    middle = list(
        qs.annotate(took=ExpressionWrapper(F("completed_at") - F("created_at"), DurationField()))
        .order_by("took")
        .values_list("took", flat=True)[(count - 1) // 2 : count // 2 + 1]
    )
    if not middle:
        return None
    return sum(middle, dt.timedelta()) / len(middle)


class _Median(Aggregate):
    """PostgreSQL's exact median (percentile_cont) of an interval; `filter=` per group."""

    function = "percentile_cont"
    name = "median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


def _median_postgresql(
    qs: QuerySet[TransferRequest],
) -> tuple[dict[str, dict[str, Any]], dt.timedelta | None]:
    """Overall and per provider in one pass: one percentile_cont per provider with FILTER
    (providers are the few in the registry), so nothing is sorted but the durations."""
    took = ExpressionWrapper(F("completed_at") - F("created_at"), output_field=DurationField())
    names = [name for name, _ in registry.choices()]
    aggregates: dict[str, Any] = {"overall": _Median(took)}
    for i, name in enumerate(names):
        aggregates[f"m{i}"] = _Median(took, filter=Q(provider=name))
        aggregates[f"n{i}"] = Count("created_at", filter=Q(provider=name))  # in the index
    row = qs.aggregate(**aggregates)
    per_provider = {
        name: {"median": row[f"m{i}"], "count": row[f"n{i}"]}
        for i, name in enumerate(names)
        if row[f"n{i}"]
    }
    return per_provider, row["overall"]


def dashboard_median_time(
    merchant: Merchant, *, days: int = 30, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Median time from creation to completion of the requests completed in the window,
    overall and per provider: {"overall": timedelta|None, "count": n, "providers": {name:
    {"median": timedelta|None, "count": n}}}. PostgreSQL: one query (percentile_cont per
    provider, FILTER); elsewhere (embedded SQLite): one count query plus one bounded query per
    provider (a handful: constant as the data grows)."""
    since = dashboard_since(days=days, now=now)
    done = TransferRequest.objects.filter(
        merchant=merchant,
        status=Status.COMPLETED,
        created_at__gte=since,
        completed_at__isnull=False,
    )
    if connection.vendor == "postgresql":
        per_provider, overall = _median_postgresql(done)
    else:
        counts = dict(done.values_list("provider").annotate(n=Count("pk")).order_by("provider"))
        per_provider = {
            p: {"median": _median_sqlite(done.filter(provider=p), n), "count": n}
            for p, n in counts.items()
        }
        overall = _median_sqlite(done, sum(counts.values()))
    return {
        "overall": overall,
        "count": sum(p["count"] for p in per_provider.values()),
        "providers": per_provider,
    }


# Age buckets of the review queue (upper bounds), the last one open-ended.
REVIEW_AGE_BUCKETS: tuple[tuple[str, dt.timedelta | None], ...] = (
    ("under 1 hour", dt.timedelta(hours=1)),
    ("1 to 24 hours", dt.timedelta(hours=24)),
    ("1 to 3 days", dt.timedelta(days=3)),
    ("over 3 days", None),
)


def dashboard_reviews_waiting(
    merchant: Merchant, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Customers whose data waits for compliance review: how many, the oldest wait, how
    many are past the merchant's review target, and a count per age bucket. One query."""
    now = now or timezone.now()
    sla = dt.timedelta(hours=merchant.review_sla_hours or 24)
    aggregates: dict[str, Any] = {
        "waiting": Count("pk"),
        "oldest": Min("waiting_since"),
        "late": Count("pk", filter=Q(waiting_since__lt=now - sla)),
    }
    lower: dt.timedelta | None = dt.timedelta()
    for i, (_, upper) in enumerate(REVIEW_AGE_BUCKETS):
        cond = Q(waiting_since__lte=now - (lower or dt.timedelta()))
        if upper is not None:
            cond &= Q(waiting_since__gt=now - upper)
        aggregates[f"b{i}"] = Count("pk", filter=cond)
        lower = upper
    # The admin's "Needs review" queue (review_queue), aggregated: in review, or one of
    # its requests is; waiting since review_since, else since the record was created.
    waiting = Q(review_status=KYCRecord.Review.IN_REVIEW) | Q(
        pk__in=TransferRequest.objects.filter(
            merchant=merchant, status=Status.REVIEW, record__isnull=False
        ).values("record_id")
    )
    row = (
        KYCRecord.objects.filter(merchant=merchant, erased_at__isnull=True)
        .filter(waiting)
        .annotate(waiting_since=Coalesce("review_since", "created_at"))
        .aggregate(**aggregates)
    )
    oldest = row["oldest"]
    return {
        "waiting": row["waiting"],
        "oldest_age": (now - oldest) if oldest else None,
        "late": row["late"],
        "sla_hours": merchant.review_sla_hours,
        "buckets": [
            {"label": label, "count": row[f"b{i}"]}
            for i, (label, _) in enumerate(REVIEW_AGE_BUCKETS)
        ],
    }
