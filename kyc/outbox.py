"""Outgoing webhooks to merchants' backends: a transactional outbox, signed per Standard Webhooks.

The life of a message:

1. A service that changes something a merchant cares about calls one of the `*_event`
   helpers below inside its own transaction. That is ONE insert (WebhookMessage); a
   rollback takes the message with it, a commit makes it certain.
2. After commit, `webhook_message_dispatch` creates one WebhookDelivery per enabled,
   subscribed endpoint and enqueues one send task per delivery (one slow endpoint only
   holds its own task; each request has a 15 s timeout).
3. `webhook_delivery_send` claims the delivery with a lease, signs the body
   (`webhook-id`, `webhook-timestamp`, `webhook-signature`; two signatures while a
   rotated secret is still valid), POSTs it under the outbound policy of provider
   calls (kyc/http.py: public addresses only, pinned, no redirects), reads at
   most 1 KB of the answer, records a WebhookAttempt and schedules the next attempt
   (WEBHOOK_RETRY_SCHEDULE, jittered) or marks the delivery failed (replayable).
4. `webhook_sweep` (beat) dispatches and sends whatever the broker or a killed worker
   lost, and every retry due later than Celery's longest countdown.

The `webhook-id` is the message's `msg_id`: the same on every attempt, replay and recover.
Payloads carry no decrypted PII (verification values come masked, as the API shows them
to a key without `pii`), unless the endpoint was created by a key with the `pii` scope
that still has it; each such send is audited.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from kyc import http, metrics, prepared, queued, selectors
from kyc.audit import audit_log
from kyc.errors import InvalidInput, OutboundRefused, ProviderError
from kyc.models import (
    ApiKey,
    Certificate,
    IdentityField,
    KYCRecord,
    Merchant,
    TransferRequest,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from kyc.ratelimit import counters_cache
from kyc.status import Status

log = logging.getLogger(__name__)

# --- events -------------------------------------------------------------------------

VERIFICATION_CREATED = "verification.created"
VERIFICATION_UPDATED = "verification.updated"
RECORD_REVIEW_DECIDED = "record.review_decided"
CERTIFICATE_RECEIVED = "certificate.received"
ISSUANCE_RUN_FINISHED = "issuance.run.finished"
PING = "ping"

# A request reaching one of these statuses also sends the matching end event.
TERMINAL_EVENTS: dict[str, str] = {
    Status.COMPLETED: "verification.completed",
    Status.FAILED: "verification.failed",
    Status.DECLINED: "verification.failed",
    Status.REJECTED: "verification.failed",
    Status.EXPIRED: "verification.expired",
    Status.CANCELLED: "verification.canceled",
}

EVENT_TYPES: tuple[str, ...] = (
    VERIFICATION_CREATED,
    VERIFICATION_UPDATED,
    "verification.completed",
    "verification.failed",
    "verification.expired",
    "verification.canceled",
    RECORD_REVIEW_DECIDED,
    CERTIFICATE_RECEIVED,
    ISSUANCE_RUN_FINISHED,
    PING,
)

# --- settings (with their defaults) -------------------------------------------------

# Seconds before each attempt: the first is immediate, the last failure ends the delivery.
DEFAULT_RETRY_SCHEDULE: tuple[int, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
TIMEOUT_SECONDS = 15.0
CONNECT_TIMEOUT_SECONDS = 5.0
ANSWER_KEPT_BYTES = 1024
SECRET_OVERLAP = dt.timedelta(hours=24)
# Messages not dispatched this long after their commit are dispatched by the sweeper.
DISPATCH_GRACE = dt.timedelta(seconds=10)
POLICY_NAME = "webhook"  # the outbound policy's allow-list entry (kyc/http.py)


def retry_schedule() -> tuple[float, ...]:
    value = getattr(settings, "WEBHOOK_RETRY_SCHEDULE", None) or DEFAULT_RETRY_SCHEDULE
    return tuple(float(v) for v in value)


def disable_after() -> dt.timedelta:
    return dt.timedelta(
        seconds=float(getattr(settings, "WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 86400))
    )


def send_lease() -> dt.timedelta:
    """A claimed delivery is not claimed again for this long (a killed worker's send is
    retried after it): longer than the request timeout plus bookkeeping."""
    return dt.timedelta(seconds=float(getattr(settings, "WEBHOOK_SEND_LEASE_SECONDS", 60)))


def batch_max() -> int:
    return int(getattr(settings, "WEBHOOK_BATCH_MAX", 20))


def max_endpoints() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_ENDPOINTS", 20))


def _jittered(seconds: float) -> float:
    """Spread retries (±10 %) so endpoints that failed together do not retry together."""
    return seconds * random.uniform(0.9, 1.1) if seconds > 0 else 0.0  # noqa: S311


# --- the outbox: one insert in the caller's transaction --------------------------------


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def webhook_message_create(
    *,
    merchant: Merchant | int,
    type: str,
    data: Mapping[str, Any],
    object_type: str = "",
    object_id: str = "",
    endpoint: WebhookEndpoint | None = None,
) -> WebhookMessage:
    """Write an outgoing message in the current transaction; it is sent after commit."""
    return webhook_messages_create(
        merchant=merchant,
        types=[type],
        data=data,
        object_type=object_type,
        object_id=object_id,
        endpoint=endpoint,
    )[0]


def webhook_messages_create(
    *,
    merchant: Merchant | int,
    types: Iterable[str],
    data: Mapping[str, Any],
    object_type: str = "",
    object_id: str = "",
    endpoint: WebhookEndpoint | None = None,
) -> list[WebhookMessage]:
    """Several events about one change (e.g. verification.updated + .completed): one
    INSERT in the change's transaction, whatever their number."""
    type_list = list(types)
    unknown = [t for t in type_list if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown webhook event type(s) {unknown!r}")
    merchant_id = merchant if isinstance(merchant, int) else merchant.pk
    messages = [
        WebhookMessage(
            merchant_id=merchant_id,
            msg_id=new_message_id(),
            event_type=t,
            object_type=object_type,
            object_id=str(object_id),
            data=dict(data),
            endpoint=endpoint,
        )
        for t in type_list
    ]
    prepared.insert(*messages)  # one INSERT, built once per process for each count
    # robust: a broker outage after commit must not fail the change; the sweeper sends it.
    # One dispatch task per merchant while one is queued: it takes the merchant's backlog.
    if messages:
        transaction.on_commit(partial(_enqueue_dispatch, messages[0].pk, merchant_id), robust=True)
    return messages


# A queued task is flagged in Redis (kyc/queued.py), so a burst of commits enqueues one
# task per merchant (dispatch) and per endpoint (send) instead of one per message.


def _dispatch_flag(merchant_id: int) -> str:
    return f"webhook-dispatch-queued:{merchant_id}"


def _send_flag(endpoint_id: int) -> str:
    return f"webhook-send-queued:{endpoint_id}"


def _enqueue_dispatch(message_id: int, merchant_id: int | None = None) -> None:
    """A dispatch task, unless one is queued for the merchant (it takes this message with
    the merchant's backlog). In a delivery's request the flag goes with the delivery's
    own Redis round trip (queued.together)."""
    if merchant_id is None:
        _publish_dispatch(message_id, None)
    else:
        queued.flag_then(
            _dispatch_flag(merchant_id), partial(_publish_dispatch, message_id, merchant_id)
        )


def _publish_dispatch(message_id: int, merchant_id: int | None) -> None:
    from kyc import tasks

    try:
        tasks.dispatch_webhook_message.delay(message_id)
    except Exception:
        if merchant_id is not None:
            queued.unflag(_dispatch_flag(merchant_id))
        raise


def _enqueue_send(delivery_id: int, trigger: str = "auto", countdown: float = 0) -> None:
    from kyc import tasks

    tasks.send_webhook_delivery.apply_async((delivery_id, trigger), countdown=countdown)


def _enqueue_endpoint(endpoint_id: int, delivery_id: int, *, force: bool = False) -> bool:
    """A send task for the endpoint's backlog (starting at delivery_id), unless one is
    already queued; `force` (the sweeper) enqueues anyway."""
    if not queued.flag(_send_flag(endpoint_id)) and not force:
        return False
    try:
        _enqueue_send(delivery_id)
    except Exception:
        queued.unflag(_send_flag(endpoint_id))
        raise
    return True


def _iso(value: dt.datetime | None) -> str | None:
    """Like the API (DRF): ISO 8601, UTC as Z."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def transfer_data(transfer: TransferRequest) -> dict[str, Any]:
    """A request as the API shows it (TransferSerializer), without the parts that need
    more queries (events, identity values): the receiver fetches those through the API."""
    return {
        "id": str(transfer.pk),
        "provider": transfer.provider,
        "reference": transfer.reference,
        "items": list(transfer.items or []),
        "status": transfer.status,
        "provider_status": transfer.provider_status,
        "failure_code": transfer.failure_code,
        "status_detail": transfer.status_detail,
        "page_url": selectors.transfer_page_url(transfer),
        "expires_at": _iso(transfer.expires_at),
        "created_at": _iso(transfer.created_at),
        "updated_at": _iso(transfer.updated_at),
        "completed_at": _iso(transfer.completed_at),
    }


def record_data(record: KYCRecord) -> dict[str, Any]:
    """A record as the API shows it (RecordSerializer), without values and certificates."""
    return {
        "id": record.pk,
        "reference": record.reference,
        "provider": record.provider,
        "review_status": record.review_status,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "erased_at": _iso(record.erased_at),
    }


def certificate_data(cert: Certificate) -> dict[str, Any]:
    """A certificate as the API shows it (CertificateSerializer): no raw data, no name."""
    return {
        "id": cert.pk,
        "provider": cert.provider,
        "slug": cert.slug,
        "external_id": cert.external_id,
        "status": cert.status,
        "recipient_id": cert.recipient_id,
        "course_id": cert.course_id,
        "batch_id": cert.batch_id,
        "download_url": cert.download_url,
        "created_at": _iso(cert.created_at),
        "record": cert.record_id,
    }


def transfer_event(*, transfer: TransferRequest, old_status: str | None) -> list[WebhookMessage]:
    """A request was created (old_status None) or changed status: call inside its transaction."""
    if old_status is not None and old_status == transfer.status:
        return []
    data = transfer_data(transfer)
    kw: dict[str, Any] = {
        "merchant": transfer.merchant_id,
        "data": data,
        "object_type": "verification",
        "object_id": str(transfer.pk),
    }
    if old_status is None:
        return webhook_messages_create(types=[VERIFICATION_CREATED], **kw)
    end = TERMINAL_EVENTS.get(transfer.status)
    return webhook_messages_create(types=[VERIFICATION_UPDATED, *([end] if end else [])], **kw)


def record_review_decided_event(*, record: KYCRecord) -> WebhookMessage:
    return webhook_message_create(
        merchant=record.merchant_id,
        type=RECORD_REVIEW_DECIDED,
        data=record_data(record),
        object_type="record",
        object_id=str(record.pk),
    )


def certificate_received_event(*, cert: Certificate) -> WebhookMessage:
    return webhook_message_create(
        merchant=cert.merchant_id,
        type=CERTIFICATE_RECEIVED,
        data=certificate_data(cert),
        object_type="certificate",
        object_id=str(cert.pk),
    )


def certificates_received_events(*, certs: Iterable[Certificate]) -> list[WebhookMessage]:
    """certificate.received for each of many new certificates (a Sunbird page): ONE insert
    in the caller's transaction, whatever their number."""
    messages = WebhookMessage.objects.bulk_create(
        [
            WebhookMessage(
                merchant_id=cert.merchant_id,
                msg_id=new_message_id(),
                event_type=CERTIFICATE_RECEIVED,
                object_type="certificate",
                object_id=str(cert.pk),
                data=certificate_data(cert),
            )
            for cert in certs
        ]
    )
    for message in messages:  # one dispatch per merchant while one is queued
        transaction.on_commit(
            partial(_enqueue_dispatch, message.pk, message.merchant_id), robust=True
        )
    return messages


def wanted(*, merchant_id: int, event_type: str) -> bool:
    """Whether an enabled endpoint of the merchant subscribes to the event now (one query):
    bulk producers skip writing messages that nobody would receive."""
    return any(
        ep.subscribed(event_type)
        for ep in WebhookEndpoint.objects.filter(merchant_id=merchant_id, enabled=True).only(
            "events"
        )
    )


def issuance_run_finished_event(*, run: Any) -> WebhookMessage:
    """A Sunbird issuance run is over (providers/sunbird): counts, not learners."""
    return webhook_message_create(
        merchant=run.merchant_id,
        type=ISSUANCE_RUN_FINISHED,
        data={
            "id": run.pk,
            "status": run.status,
            "course_id": run.course_id,
            "batch_id": run.batch_id,
            "certificate_name": run.certificate_name,
            "registry_count": run.registry_count,
            "collected_count": run.collected_count,
            "last_error": run.last_error,
            "created_at": _iso(run.created_at),
            "finished_at": _iso(run.finished_at),
        },
        object_type="issuance_run",
        object_id=str(run.pk),
    )


# --- endpoints ---------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def webhook_url_check(url: str) -> str:
    """The endpoint URL under the outbound policy: https and a public host, or an http(s)
    address inside OUTBOUND_ALLOW_NETWORKS (the operator's explicit opt-in, e.g. a
    receiver on 127.0.0.1 in sandbox mode or tests). Raises InvalidInput(field="url")."""
    url = (url or "").strip()
    if len(url) > 1000:
        raise InvalidInput("The URL is too long (at most 1000 characters).", field="url")
    try:
        target = http.check_url(url, provider=POLICY_NAME)
    except OutboundRefused as exc:
        reason = exc.message.removeprefix("The provider URL was refused: ").rstrip(".")
        raise InvalidInput(f"The endpoint URL was refused: {reason}.", field="url") from None
    if target.scheme != "https" and not _operator_network(target.host):
        raise InvalidInput("The endpoint URL must use https.", field="url")
    try:
        http.resolve(target)  # early word on a private address; every send checks again
    except OutboundRefused:
        raise InvalidInput(
            "The endpoint URL was refused: it points to a non-public address.", field="url"
        ) from None
    except ProviderError:
        pass  # does not resolve now (a new DNS name?): sends will fail and say so
    return url


def _operator_network(host: str) -> bool:
    import ipaddress

    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in net for net in http.allowed_networks())


def _events(events: Iterable[str] | None) -> list[str]:
    wanted = list(dict.fromkeys(events or ["*"]))
    if not wanted:
        raise InvalidInput("Choose at least one event, or '*' for every event.", field="events")
    unknown = sorted(set(wanted) - set(EVENT_TYPES) - {"*"})
    if unknown:
        raise InvalidInput(f"unknown event type(s): {', '.join(unknown)}", field="events")
    return ["*"] if "*" in wanted else wanted


def webhook_endpoint_create(
    *,
    merchant: Merchant,
    url: str,
    events: Iterable[str] | None = None,
    description: str = "",
    actor: Any = None,
    key: ApiKey | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; the secret is returned once (stored encrypted)."""
    url = webhook_url_check(url)
    event_list = _events(events)
    if WebhookEndpoint.objects.filter(merchant=merchant).count() >= max_endpoints():
        raise InvalidInput(
            f"A merchant may have at most {max_endpoints()} webhook endpoints.", field="url"
        )
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        merchant=merchant,
        url=url,
        events=event_list,
        description=description[:200],
        secret=secret,
        # Decrypted PII only for an endpoint whose creator could read it through the API.
        include_pii=bool(key is not None and key.has_scope(ApiKey.Scope.PII)),
        created_by=actor if getattr(actor, "pk", None) else None,
        created_by_key=key,
    )
    audit_log(
        actor=actor,
        action="webhook_endpoint.created",
        obj=endpoint,
        detail={"events": event_list, "key": key.prefix if key else ""},
    )
    return endpoint, secret


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: Iterable[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    actor: Any = None,
) -> WebhookEndpoint:
    changed: list[str] = []
    if url is not None and url != endpoint.url:
        endpoint.url = webhook_url_check(url)
        changed.append("url")
    if events is not None:
        endpoint.events = _events(events)
        changed.append("events")
    if description is not None:
        endpoint.description = description[:200]
        changed.append("description")
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        changed.append("enabled")
        if enabled:  # switched back on: a fresh start, no inherited failure window
            endpoint.disabled_reason, endpoint.disabled_at, endpoint.failing_since = "", None, None
        else:
            endpoint.disabled_reason, endpoint.disabled_at = (
                "Disabled by the merchant.",
                timezone.now(),
            )
    endpoint.save()
    if changed:
        audit_log(
            actor=actor,
            action="webhook_endpoint.updated",
            obj=endpoint,
            detail={"changed_fields": changed, "enabled": endpoint.enabled},
        )
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: Any = None) -> None:
    audit_log(
        actor=actor, action="webhook_endpoint.deleted", obj=endpoint, detail={"id": endpoint.pk}
    )
    endpoint.delete()


def webhook_endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, actor: Any = None, now: dt.datetime | None = None
) -> str:
    """A new secret; the previous one keeps signing alongside it for 24 h."""
    now = now or timezone.now()
    secret = new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + SECRET_OVERLAP
    endpoint.secret = secret
    endpoint.save()
    audit_log(actor=actor, action="webhook_endpoint.secret_rotated", obj=endpoint)
    return secret


def _disable(endpoint: WebhookEndpoint, reason: str, now: dt.datetime) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:300]
    endpoint.disabled_at = now
    audit_log(
        actor=None, action="webhook_endpoint.disabled", obj=endpoint, detail={"reason": reason}
    )
    log.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)


def webhook_endpoint_test(*, endpoint: WebhookEndpoint) -> WebhookMessage:
    """Send a `ping` to this endpoint only (even when it is disabled: to check a fix)."""
    with transaction.atomic():
        return webhook_message_create(
            merchant=endpoint.merchant_id,
            type=PING,
            data={"endpoint_id": endpoint.pk, "message": "Test event from the KYC portal."},
            object_type="endpoint",
            object_id=str(endpoint.pk),
            endpoint=endpoint,
        )


def webhook_delivery_replay(
    *, delivery: WebhookDelivery, actor: Any = None, trigger: str = "replay"
) -> WebhookDelivery:
    """Send a delivery again now, with its original webhook-id, on a fresh retry schedule."""
    now = timezone.now()
    with transaction.atomic():
        d = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        d.state = WebhookDelivery.State.PENDING
        d.attempts = 0
        d.next_attempt_at = now
        d.save(update_fields=["state", "attempts", "next_attempt_at", "updated_at"])
        transaction.on_commit(partial(_enqueue_send, d.pk, trigger), robust=True)
    if actor is not None:
        audit_log(
            actor=actor,
            action="webhook_delivery.replayed",
            obj=d.endpoint,
            detail={"delivery": d.pk},
        )
    return d


def webhook_endpoint_recover(
    *, endpoint: WebhookEndpoint, since: dt.datetime, actor: Any = None
) -> int:
    """Re-send every delivery to this endpoint that failed since `since` (original ids)."""
    ids = list(
        WebhookDelivery.objects.filter(
            endpoint=endpoint, state=WebhookDelivery.State.FAILED, created_at__gte=since
        ).values_list("pk", flat=True)[:10000]
    )
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk__in=ids).update(
            state=WebhookDelivery.State.PENDING, attempts=0, next_attempt_at=now, updated_at=now
        )
        for pk in ids:
            transaction.on_commit(partial(_enqueue_send, pk, "recover"), robust=True)
        audit_log(
            actor=actor,
            action="webhook_endpoint.recovered",
            obj=endpoint,
            detail={"since": _iso(since), "count": len(ids)},
        )
    return len(ids)


# --- dispatch and send --------------------------------------------------------------


DISPATCH_BATCH = 200  # messages per dispatch transaction


def webhook_message_dispatch(
    *, message_id: int, now: dt.datetime | None = None, backlog: bool = False
) -> list[int]:
    """Create the message's deliveries (once) and enqueue a send per endpoint (unless one
    is queued: it sends the endpoint's backlog). `backlog` (the dispatch task): also
    every other undispatched message of the merchant, oldest first, in batches of
    DISPATCH_BATCH, one transaction each."""
    now = now or timezone.now()
    if not backlog:
        return _dispatch(Q(pk=message_id), now)
    merchant_id = (
        WebhookMessage.objects.filter(pk=message_id).values_list("merchant_id", flat=True).first()
    )
    if merchant_id is None:
        return []
    # Cleared before reading: a message committed from now on enqueues its own dispatch.
    queued.unflag(_dispatch_flag(merchant_id))
    ids = _dispatch(Q(pk=message_id), now)
    while batch := _dispatch(Q(merchant_id=merchant_id), now):
        ids += batch
    return ids


def _dispatch(where: Q, now: dt.datetime) -> list[int]:
    """Dispatch the undispatched messages matching `where` (at most DISPATCH_BATCH) in one
    transaction: their deliveries in one INSERT. Returns the pending deliveries' ids."""
    with transaction.atomic():
        messages = list(
            WebhookMessage.objects.select_for_update(skip_locked=True)
            .filter(where, dispatched_at__isnull=True)
            .order_by("pk")[:DISPATCH_BATCH]
        )
        if not messages:
            return []
        own_ids = {m.endpoint_id for m in messages if m.endpoint_id is not None}
        own = {ep.pk: ep for ep in WebhookEndpoint.objects.filter(pk__in=own_ids)}
        merchant_ids = {m.merchant_id for m in messages if m.endpoint_id is None}
        enabled = list(
            WebhookEndpoint.objects.filter(merchant_id__in=merchant_ids, enabled=True).order_by(
                "pk"
            )
            if merchant_ids
            else []
        )
        rows = []
        for m in messages:
            if m.endpoint_id is not None:
                targets = [own[m.endpoint_id]] if m.endpoint_id in own else []
            else:
                targets = [
                    ep
                    for ep in enabled
                    if ep.merchant_id == m.merchant_id and ep.subscribed(m.event_type)
                ]
            rows += [WebhookDelivery(message=m, endpoint=ep, next_attempt_at=now) for ep in targets]
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        WebhookMessage.objects.filter(pk__in=[m.pk for m in messages]).update(dispatched_at=now)
        pending = list(
            WebhookDelivery.objects.filter(
                message__in=messages, state=WebhookDelivery.State.PENDING
            )
            .order_by("pk")
            .values_list("pk", "endpoint_id")
        )
        first: dict[int, int] = {}
        for pk, endpoint_id in pending:
            first.setdefault(endpoint_id, pk)
        for endpoint_id, pk in first.items():
            transaction.on_commit(partial(_enqueue_endpoint, endpoint_id, pk), robust=True)
    return [pk for pk, _ in pending]


def message_body(message: WebhookMessage, *, values: list[dict[str, Any]] | None = None) -> str:
    """The exact text signed and sent. `values`: a verification's identity values as the
    API shows them (`data` of a transfer), read at send time."""
    data = {**message.data, "sequence": message.pk}
    if values is not None:
        data["data"] = values
    payload = {"type": message.event_type, "timestamp": _iso(message.created_at), "data": data}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def may_send_pii(endpoint: WebhookEndpoint) -> bool:
    """Decrypted values only for an endpoint created by a key that had, and still has,
    the `pii` scope: revoking the key or its scope stops them at once."""
    key = endpoint.created_by_key
    return bool(
        endpoint.include_pii
        and key is not None
        and key.revoked_at is None
        and key.has_scope(ApiKey.Scope.PII)
    )


def _identity_values(
    message: WebhookMessage, endpoint: WebhookEndpoint, delivery_id: int
) -> list[dict[str, Any]] | None:
    """A verification's values (FieldValueSerializer's shape): masked (null) unless the
    endpoint may receive PII; each send of decrypted values is audited like an API read."""
    if message.object_type != "verification" or message.event_type == PING:
        return None
    reveal = may_send_pii(endpoint)
    fields = IdentityField.objects.filter(
        transfer_id=uuid.UUID(message.object_id), erased_at__isnull=True
    ).order_by("key")
    fields = fields.defer("pepper") if reveal else fields.defer("pepper", "value")
    rows = [
        {
            "key": f.key,
            "value": f.value if reveal else None,
            "masked": not reveal,
            "status": f.status,
            "received_at": _iso(f.received_at),
        }
        for f in fields
    ]
    if reveal and rows:
        audit_log(
            actor=None,
            action="pii.webhook_sent",
            obj=endpoint,
            detail={
                "key": endpoint.created_by_key.prefix if endpoint.created_by_key else "",
                "delivery": delivery_id,
                "transfer": message.object_id,
                "fields": [r["key"] for r in rows],
            },
        )
    return rows


def signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    out = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        out.append(endpoint.previous_secret)
    return out


def sign(*, msg_id: str, timestamp: int, body: str, secrets_: Iterable[str]) -> str:
    at = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets_)


def _claim(delivery_id: int, now: dt.datetime) -> WebhookDelivery | None:
    """Take the delivery for one attempt: nobody else sends it until the lease ends."""
    with transaction.atomic():
        d = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("message", "endpoint", "endpoint__created_by_key")
            .filter(pk=delivery_id, state=WebhookDelivery.State.PENDING)
            .first()
        )
        if d is None or (d.next_attempt_at is not None and d.next_attempt_at > now):
            return None
        d.next_attempt_at = now + send_lease()
        d.save(update_fields=["next_attempt_at", "updated_at"])
    return d


_session: requests.Session | None = None


def _http() -> requests.Session:
    global _session
    if _session is None:
        # No automatic retries: the retry schedule is ours, and POSTs are never retried blind.
        _session = http.session(timeout=(CONNECT_TIMEOUT_SECONDS, TIMEOUT_SECONDS), retries=0)
    return _session


def _post(url: str, body: str, headers: dict[str, str]) -> tuple[int | None, str, str, int]:
    """(status, first 1 KB of the answer, error, latency ms) of one POST under the policy."""
    start = time.monotonic()
    status: int | None = None
    excerpt, error = "", ""
    try:
        target = http.check_url(url, provider=POLICY_NAME)
        with http.pinned_to(target):  # the policy's pinned, redirect-free transport
            resp = _http().post(url, data=body.encode("utf-8"), headers=headers, stream=True)
        try:
            status = resp.status_code
            excerpt = _read_bounded(resp, deadline=start + TIMEOUT_SECONDS)
        finally:
            resp.close()
    except OutboundRefused as exc:
        error = "refused by the outbound policy: " + exc.message.removeprefix(
            "The provider URL was refused: "
        ).rstrip(".")
    except requests.Timeout:
        error = f"no answer within {TIMEOUT_SECONDS:.0f} s"
    except requests.ConnectionError:
        error = "could not connect"
    except ProviderError as exc:  # the host name did not resolve
        error = (
            "could not connect (the host name did not resolve)" if exc.retryable else exc.message
        )
    except requests.RequestException as exc:
        error = f"request failed ({type(exc).__name__})"
    latency = int((time.monotonic() - start) * 1000)
    return status, excerpt, error[:300], latency


def _read_bounded(resp: requests.Response, *, deadline: float) -> str:
    """At most ANSWER_KEPT_BYTES, and never past the deadline: a slow or huge answer
    cannot hold the worker."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in resp.iter_content(chunk_size=256):
            chunks.append(chunk)
            size += len(chunk)
            if size >= ANSWER_KEPT_BYTES or time.monotonic() > deadline:
                break
    except requests.RequestException:
        pass  # the status is what counts; the excerpt is a courtesy
    return b"".join(chunks)[:ANSWER_KEPT_BYTES].decode("utf-8", "replace")


def webhook_delivery_send(
    *, delivery_id: int, trigger: str = "auto", now: dt.datetime | None = None
) -> str:
    """One attempt of one delivery, then the endpoint's backlog. Safe to call twice: only
    the claimant sends.

    The task stands for its endpoint: after a success (or when another batch already sent
    its delivery), the endpoint's other due deliveries follow on the same worker and
    pooled connection (oldest first, at most WEBHOOK_BATCH_MAX, within the request
    timeout; what is left gets one follow-up task): a backlog drains in batches, one task
    per batch, and the first failure stops the batch so a failing endpoint keeps no
    worker busy (its retry, or the sweeper, resumes it)."""
    now = now or timezone.now()
    endpoint_id = (
        WebhookDelivery.objects.filter(pk=delivery_id).values_list("endpoint_id", flat=True).first()
    )
    if endpoint_id is None:
        return "missing"
    # Cleared before reading: a delivery committed from now on enqueues a task of its own.
    queued.unflag(_send_flag(endpoint_id))
    slot = _take_slot(endpoint_id)
    if slot is None:
        # The endpoint already has its share of workers: leave this one to them (they
        # drain the endpoint's due deliveries after each success) or to the sweeper.
        return "busy"
    rest: int | None = None
    try:
        state = _claim_and_send(delivery_id, trigger, now)
        if state in (WebhookDelivery.State.SUCCEEDED, "not due"):
            rest = _drain(endpoint_id)
    finally:
        _free_slot(slot)
    if rest is not None:  # the batch is full: one task for what is left
        transaction.on_commit(partial(_enqueue_endpoint, endpoint_id, rest), robust=True)
    return state


def _next_due(endpoint_id: int) -> int | None:
    return (
        WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id,
            state=WebhookDelivery.State.PENDING,
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("id")
        .values_list("pk", flat=True)
        .first()
    )


def _drain(endpoint_id: int) -> int | None:
    """Send the endpoint's due deliveries, oldest first, until none is left (None), one
    fails (None: its retry is scheduled), or the batch is full (the next one's id).

    Claimed together (one commit) and their successes recorded together (one commit), so
    a batch costs two commits, not two per delivery. A worker killed mid batch leaves the
    claimed deliveries leased: they are sent again, with the same webhook-id, after the
    lease (at least once, as for a single send)."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    left = batch_max()
    while left > 0 and time.monotonic() <= deadline:
        batch = _claim_due(endpoint_id, timezone.now(), limit=left)
        if not batch:
            return None
        left -= len(batch)
        done: list[tuple[int, int | None, str, int]] = []
        try:
            for i, d in enumerate(batch):
                if time.monotonic() > deadline:
                    _release([x.pk for x in batch[i:]])
                    break
                status, excerpt, error, latency = _attempt(d, timezone.now())
                if status is not None and 200 <= status < 300:
                    done.append((d.pk, status, excerpt, latency))
                    continue
                _release([x.pk for x in batch[i + 1 :]])
                if not (status is None and error == DISABLED):  # else failed unsent
                    _record(d.pk, status, excerpt, error, latency, "auto")
                return None
        finally:
            _record_successes(endpoint_id, done)
    return _next_due(endpoint_id)


def _claim_due(endpoint_id: int, now: dt.datetime, *, limit: int) -> list[WebhookDelivery]:
    """Lease up to `limit` of the endpoint's due deliveries, oldest first, in one
    transaction (SKIP LOCKED: a concurrent batch takes others)."""
    with transaction.atomic():
        batch = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("message", "endpoint", "endpoint__created_by_key")
            .filter(
                endpoint_id=endpoint_id,
                state=WebhookDelivery.State.PENDING,
                next_attempt_at__lte=now,
            )
            .order_by("id")[:limit]
        )
        if batch:
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in batch]).update(
                next_attempt_at=now + send_lease(), updated_at=now
            )
    return batch


def _release(ids: list[int]) -> None:
    """Claimed but not sent (the batch stopped): due again at once."""
    if ids:
        WebhookDelivery.objects.filter(pk__in=ids, state=WebhookDelivery.State.PENDING).update(
            next_attempt_at=timezone.now()
        )


def _record_successes(endpoint_id: int, done: list[tuple[int, int | None, str, int]]) -> None:
    """The 2xx answers of a batch: their attempts, the deliveries succeeded, the endpoint's
    health, in one transaction."""
    if not done:
        return
    now = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(
            WebhookAttempt(
                delivery_id=pk,
                at=now,
                status_code=status,
                latency_ms=latency,
                response_body=excerpt,
                error="",
                trigger="auto",
            )
            for pk, status, excerpt, latency in done
        )
        for pk, status, _, _ in done:
            WebhookDelivery.objects.filter(pk=pk).update(
                state=WebhookDelivery.State.SUCCEEDED,
                next_attempt_at=None,
                last_error="",
                last_status=status,
                attempts=F("attempts") + 1,
                updated_at=now,
            )
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(
            last_success_at=now, failing_since=None
        )


def _take_slot(endpoint_id: int) -> str | None:
    """One of WEBHOOK_ENDPOINT_CONCURRENCY slots for this endpoint, held for at most the
    send lease; None when all are taken. With the cache down, sending goes on ("")."""
    limit = int(getattr(settings, "WEBHOOK_ENDPOINT_CONCURRENCY", 4))
    timeout = int(send_lease().total_seconds())
    try:
        for i in range(max(limit, 1)):
            key = f"webhook-slot:{endpoint_id}:{i}"
            if counters_cache().add(key, 1, timeout=timeout):
                return key
    except Exception as exc:  # redis.ConnectionError and friends: fail open
        log.warning("webhook concurrency slots unavailable: %s", type(exc).__name__)
        return ""
    return None


def _free_slot(key: str) -> None:
    if key:
        try:
            counters_cache().delete(key)
        except Exception as exc:  # the slot expires with the lease anyway
            log.warning("webhook concurrency slot not freed: %s", type(exc).__name__)


def _claim_and_send(delivery_id: int, trigger: str, now: dt.datetime) -> str:
    d = _claim(delivery_id, now)
    if d is None:
        return "not due"
    status, excerpt, error, latency = _attempt(d, now)
    if status is None and error == DISABLED:
        return "endpoint disabled"
    return _record(d.pk, status, excerpt, error, latency, trigger)


DISABLED = "the endpoint is disabled"


def _attempt(d: WebhookDelivery, now: dt.datetime) -> tuple[int | None, str, str, int]:
    """Sign and POST one claimed delivery: (status, first 1 KB, error, latency ms). A
    delivery to a disabled endpoint (not an explicit test) fails here, unsent."""
    endpoint, message = d.endpoint, d.message
    if not endpoint.enabled and message.endpoint_id is None:
        WebhookDelivery.objects.filter(pk=d.pk).update(
            state=WebhookDelivery.State.FAILED,
            next_attempt_at=None,
            last_error=DISABLED,
            updated_at=now,
        )
        return None, "", DISABLED, 0
    body = message_body(message, values=_identity_values(message, endpoint, d.pk))
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": message.msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            msg_id=message.msg_id,
            timestamp=timestamp,
            body=body,
            secrets_=signing_secrets(endpoint, now),
        ),
    }
    status, excerpt, error, latency = _post(endpoint.url, body, headers)
    metrics.webhook_attempted(status, error, latency)
    return status, excerpt, error, latency


def _record(
    delivery_id: int, status: int | None, excerpt: str, error: str, latency: int, trigger: str
) -> str:
    now = timezone.now()
    ok = status is not None and 200 <= status < 300
    countdown: float | None = None
    with transaction.atomic():
        d = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        ep = WebhookEndpoint.objects.select_for_update().get(pk=d.endpoint_id)
        WebhookAttempt.objects.create(
            delivery=d,
            at=now,
            status_code=status,
            latency_ms=latency,
            response_body=excerpt,
            error=error if error or ok else f"the endpoint answered {status}",
            trigger=trigger,
        )
        d.attempts += 1
        d.last_status = status
        if ok:
            d.state, d.next_attempt_at, d.last_error = WebhookDelivery.State.SUCCEEDED, None, ""
            ep.last_success_at, ep.failing_since = now, None
        else:
            d.last_error = error or f"the endpoint answered {status}"
            ep.last_failure_at, ep.last_error = now, d.last_error
            ep.failing_since = ep.failing_since or now
            schedule = retry_schedule()
            if status == 410:
                d.state, d.next_attempt_at = WebhookDelivery.State.FAILED, None
                if ep.enabled:
                    _disable(ep, "The endpoint answered 410 Gone.", now)
            elif d.attempts >= len(schedule):
                d.state, d.next_attempt_at = WebhookDelivery.State.FAILED, None
            else:
                countdown = _jittered(schedule[d.attempts])
                d.next_attempt_at = now + dt.timedelta(seconds=countdown)
            if ep.enabled and now - ep.failing_since >= disable_after():
                days = disable_after().total_seconds() / 86400
                _disable(ep, f"Every delivery failed for {days:g} days.", now)
        d.save()
        ep.save()
        limit = float(getattr(settings, "CELERY_MAX_COUNTDOWN", 600))
        if countdown is not None and countdown <= limit:
            transaction.on_commit(partial(_enqueue_send, d.pk, "auto", countdown), robust=True)
        # Longer waits are the sweeper's (beat): a countdown that long would sit in the
        # broker past its visibility timeout.
    return d.state


def webhook_sweep(*, now: dt.datetime | None = None) -> int:
    """Dispatch undispatched messages and enqueue one send per endpoint with due deliveries
    (beat, every 30 s)."""
    now = now or timezone.now()
    count = 0
    for pk in WebhookMessage.objects.filter(
        dispatched_at__isnull=True, created_at__lt=now - DISPATCH_GRACE
    ).values_list("pk", flat=True)[:500]:
        webhook_message_dispatch(message_id=pk, now=now)
        count += 1
    due = WebhookDelivery.objects.filter(
        state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now
    ).filter(Q(endpoint__enabled=True) | Q(message__endpoint__isnull=False))
    # One task per endpoint with due deliveries (it drains the endpoint's backlog), even
    # if one is flagged as queued: the broker may have lost it.
    for row in due.values("endpoint_id").annotate(first=Min("pk")).order_by("endpoint_id")[:1000]:
        _enqueue_endpoint(row["endpoint_id"], row["first"], force=True)
        count += 1
    webhook_retention_purge(now=now)
    return count


def webhook_retention_purge(*, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Forget messages (with their deliveries and attempts: answers can echo anything)
    older than WEBHOOK_RETENTION_DAYS, unless a delivery is still pending. Filters on
    dispatched_at so the (dispatched_at, created_at) index serves every sweep."""
    now = now or timezone.now()
    days = float(getattr(settings, "WEBHOOK_RETENTION_DAYS", 30))
    old = (
        WebhookMessage.objects.filter(dispatched_at__lt=now - dt.timedelta(days=days))
        .exclude(deliveries__state=WebhookDelivery.State.PENDING)
        .values_list("pk", flat=True)[:limit]
    )
    deleted, _ = WebhookMessage.objects.filter(pk__in=list(old)).delete()
    return deleted


# --- what the pages show ---------------------------------------------------------------


def endpoint_health(endpoint: WebhookEndpoint, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Success rate of the last 24 h of attempts, and the last error."""
    now = now or timezone.now()
    counts = WebhookAttempt.objects.filter(
        delivery__endpoint=endpoint, at__gte=now - dt.timedelta(hours=24)
    ).aggregate(
        total=Count("pk"), ok=Count("pk", filter=Q(status_code__gte=200, status_code__lt=300))
    )
    total, ok = counts["total"] or 0, counts["ok"] or 0
    return {
        "attempts_24h": total,
        "success_rate_24h": round(ok * 100 / total, 1) if total else None,
        "last_error": endpoint.last_error,
        "last_success_at": endpoint.last_success_at,
        "last_failure_at": endpoint.last_failure_at,
    }
