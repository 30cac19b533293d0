"""Reads. Anything that lists or fetches for a user or key is scoped to its merchant here."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from django.core.cache import cache
from django.db.models import Count, QuerySet

from kyc.models import ApiKey, KYCRecord, Merchant, TransferRequest
from kyc.status import is_terminal, plain_words

log = logging.getLogger(__name__)

PAGE_STATE_TTL = 3600


def merchants_for_user(user: Any) -> QuerySet[Merchant]:
    if not getattr(user, "is_authenticated", False):
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


def transfer_page_state(*, page_token: str, refresh: bool = False) -> dict[str, Any] | None:
    """What the customer page's status fragment shows, from the shared cache.

    Services refresh it after every committed change, so a poll costs no
    database round trip while nothing changes.
    """
    key = page_state_key(page_token)
    if not refresh:
        try:
            state = cache.get(key)
        except Exception:  # cache down: the database answers, slower but right
            state = None
        if state is not None:
            return state
    t = (
        TransferRequest.objects.filter(page_token=page_token)
        .only(  # what the fragment shows (the pk always comes along)
            "status",
            "provider_status",
            "status_detail",
            "expires_at",
            "provider",
            "redirect_url",
        )
        .first()
    )
    if t is None:
        return None
    events = [
        {
            "at": e.created_at.isoformat(),
            "status": e.status,
            "provider_status": e.provider_status,
            "tx_hash": e.tx_hash,
            "kind": e.kind,
        }
        for e in t.events.all().order_by("created_at", "id")
    ]
    state = {
        "status": t.status,
        "status_label": t.get_status_display(),
        "words": plain_words(t.status),
        "detail": t.status_detail if is_terminal(t.status) else "",
        "provider_status": t.provider_status,
        "terminal": is_terminal(t.status),
        "expires_at": t.expires_at.isoformat() if t.expires_at else "",
        "redirect_url": t.redirect_url,
        "events": events,
        "provider": t.provider,
    }
    try:
        cache.set(key, state, PAGE_STATE_TTL)
    except Exception as exc:  # cache down: pages fall back to the database until it is back
        log.warning("page state not cached, cache unavailable: %s", type(exc).__name__)
    return state


# --- the review queue (admin "Needs review", admin index, merchant dashboard) -----------


def review_queue(merchant_ids: Any) -> QuerySet[KYCRecord]:
    """Records awaiting a staff decision at these merchants, oldest wait first.

    A record waits when its review status is "In review" or one of its requests is in
    review; it waits since `review_since` (set when it entered review), else its creation.
    """
    from django.db.models import Q
    from django.db.models.functions import Coalesce

    from kyc.status import Status

    waiting = Q(review_status=KYCRecord.Review.IN_REVIEW) | Q(
        pk__in=TransferRequest.objects.filter(status=Status.REVIEW, record__isnull=False).values(
            "record_id"
        )
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

