"""CorePass as the core sees it: the one class the core talks to (settings form, validate
and start a request, stored callbacks, reconcile, inbound URLs), with the mapping of
connector statuses it uses.

services.py imports this module (status mapping, connector key), so the hooks below
import services when they run, never at module level.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, ClassVar

from kyc.contract import Delivery, Provider, StartRequest, StartResult, StatusUpdate, Verdict
from kyc.errors import InvalidInput, PermanentError
from providers.corepass import client, coreid
from providers.corepass import items as catalogue
from providers.corepass.forms import CorePassSettingsForm
from providers.corepass.schemas import QRCodeRequest, StatusEntry
from providers.corepass.signature import field_hash, parse_public_key

# Connector statuses in the documented order of appearance; provider_rank = position,
# so a late callback never moves the request's provider status backwards.
ORDER: tuple[str, ...] = (
    "PENDING",
    "ACCEPTED",
    "INITIATE_SUBMITTED",
    "INITIATED",
    "INITIATED_FAILED",
    "KYC_RECEIVED",
    "VALIDITY_CHECK",
    "VALIDITY_SUCCEED",
    "VALIDITY_FAILED",
    "CONFIRM_SUBMITTED",
    "CONFIRMED",
    "CONFIRM_FAILED",
    "CALLBACK_SUCCEED",
    "CALLBACK_FAILED",
    "FINISH_SUCCESS",
    "FINISH_FAILED",
)
RANK: dict[str, int] = {s: i + 1 for i, s in enumerate(ORDER)}
FAILED: frozenset[str] = frozenset(
    {"INITIATED_FAILED", "VALIDITY_FAILED", "CONFIRM_FAILED", "FINISH_FAILED"}
)
_FAILURE_WORDS: dict[str, str] = {
    "INITIATED_FAILED": "The transfer could not be started on the blockchain.",
    "VALIDITY_FAILED": "CorePass found the shared data invalid.",
    "CONFIRM_FAILED": "The confirming blockchain transaction failed.",
    "FINISH_FAILED": "The transfer failed in CorePass.",
}
DEFAULT_LIFETIME = 10 * 60  # seconds the customer has to accept (connector allows 5-15 min)


def portal_status(provider_status: str) -> str | None:
    """The portal status a connector status implies (FINISH_SUCCESS: see the flow service)."""
    if provider_status == "PENDING":
        return "pending"
    if provider_status == "ACCEPTED":
        return "accepted"
    if provider_status in FAILED:
        return "failed"
    if provider_status == "FINISH_SUCCESS":
        return "completed"
    if provider_status in RANK:
        return "processing"
    return None


def failure_detail(provider_status: str) -> str:
    return _FAILURE_WORDS.get(provider_status, f"CorePass reported {provider_status}.")


def status_update(entry: StatusEntry, *, detail: str = "") -> StatusUpdate:
    """A StatusUpdate from a connector status (callback or /kyc/status answer)."""
    failed = entry.status in FAILED
    return StatusUpdate(
        status=portal_status(entry.status),
        provider_status=entry.status,
        provider_rank=RANK.get(entry.status, 0),
        tx_hash=entry.tx_hash,
        detail=detail or (failure_detail(entry.status) if failed else ""),
        failure_code=entry.status.lower() if failed else "",
    )


def item_hashes(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    return {field_hash(i): i for i in items}


def connector_key(settings: dict[str, Any]) -> bytes:
    try:
        return _parsed_key(str(settings.get("connector_public_key") or ""))
    except ValueError as exc:
        raise PermanentError(str(exc), code="not_configured") from None


@functools.lru_cache(maxsize=256)
def _parsed_key(text: str) -> bytes:
    """Parsed once per configured key text (each callback used to parse it again)."""
    return parse_public_key(text)


def _connector_url(settings: dict[str, Any]) -> str:
    url = str(settings.get("connector_url") or "").strip()
    if not url:
        raise PermanentError("The CorePass connector URL is not set.", code="not_configured")
    return url


class CorePassProvider(Provider):
    name: ClassVar[str] = "corepass"
    label: ClassVar[str] = "CorePass"
    starts_transfers: ClassVar[bool] = True
    form_class = CorePassSettingsForm
    urls = "providers.corepass.urls"
    sandbox = "providers.corepass.sandbox"

    def validate_start(
        self, *, subject: str, items: list[str], settings: dict[str, Any]
    ) -> tuple[str, list[str]]:
        try:
            user = coreid.normalize(subject)
        except coreid.CoreIDError as exc:
            raise InvalidInput(exc.args[0], field="subject") from None
        wanted = items or catalogue.parse_list(str(settings.get("default_items") or ""))
        if not wanted:
            raise InvalidInput(
                "Name the items to ask for (e.g. SH_ANY_DOB, SH_EMAIL), or set default items.",
                field="items",
            )
        return user, catalogue.normalize_items(wanted)

    def start_transfer(self, request: StartRequest) -> StartResult:
        base = _connector_url(request.settings)
        connector_key(request.settings)  # refuse to start what we could never verify
        asked = list(request.items)
        answer = client.verified(base, user=request.subject, items=catalogue.to_ask(asked))
        chosen, missing = catalogue.resolve(asked, answer.verified)
        if missing:
            raise PermanentError(
                "The customer has not verified "
                + ", ".join(missing)
                + " in CorePass. Please complete KYC in the CorePass app, then try again.",
                code="items_not_verified",
            )
        now = request.now or dt.datetime.now(dt.UTC)
        expiration = int(now.timestamp()) + DEFAULT_LIFETIME
        qr = client.qrcode(
            base,
            QRCodeRequest(
                user=request.subject,
                items=tuple(chosen),
                callback=f"{request.callback_url}data",
                status_callback=f"{request.callback_url}status",
                expiration=expiration,
                without_qr_code=True,  # the portal renders its own SVG from the link
            ),
            now=int(now.timestamp()),
        )
        detail = "Waiting for the customer"
        if qr.already_sent:
            detail = "The connector reused the QR code of an earlier request for the same items"
        return StartResult(
            qr_payload=qr.link,
            deep_link=qr.link,
            expires_at=dt.datetime.fromtimestamp(qr.expiration, dt.UTC),
            provider_status="PENDING",
            status="pending",
            items=tuple(chosen),
            data={"asked": asked, "already_sent": qr.already_sent, "expiration": qr.expiration},
            detail=detail,
        )

    def test_connection(self, *, settings: dict[str, Any], state: dict[str, Any]) -> str:
        """Key must parse; the connector must answer /verified for a well-formed CoreID."""
        connector_key(settings)
        probe = "cb" + coreid.check_digits("cb", "0" * 40) + "0" * 40
        client.verified(_connector_url(settings), user=probe, items=["SH_EMAIL"])
        return "Connector answered and the public key is a valid Ed448 key."

    def describe_state(self, *, state: dict[str, Any]) -> list[tuple[str, str]]:
        # CorePass has no account-wide webhook: every request sends its own URLs.
        return [
            (
                "Callbacks",
                "Each request gives the connector its own unguessable callback and "
                "statusCallback URLs; there is no webhook to configure.",
            )
        ]

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        from providers.corepass import sandbox

        return {
            "connector_url": sandbox_url.rstrip("/"),
            "connector_public_key": sandbox.public_key_hex(),
            "default_items": "SH_EMAIL SH_ANY_DOB",
        }

    def inbound_check(self, delivery: Delivery) -> Verdict:
        from providers.corepass import services

        return services.callback_process(
            transfer=delivery.transfer,
            kind=delivery.kind,
            content_type=delivery.headers.get("content-type", ""),
            body=delivery.body,
            now=services.now_ts(),
        )

    def inbound_apply(self, *, event: Any, delivery: Delivery, verdict: Verdict) -> Verdict:
        from providers.corepass import services

        return services.callback_apply(event=event, transfer=delivery.transfer, verdict=verdict)

    def process_delivery(self, *, event_id: int) -> bool:
        from providers.corepass import services

        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        from providers.corepass import services

        return services.reconcile()

    def delivery_choose(self, *, event_id: int, actor: Any) -> bool:
        from providers.corepass import services

        return services.data_delivery_accept(event_id=event_id, actor=actor)
