"""Request and response examples for the API docs (drf-spectacular OpenApiExample).

Module level prose and sample data only: what a merchant sees in /api/docs/.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

from portal.api.serializers import TransferListSerializer
from providers.corepass.coreid import sample_coreid

TRANSFER_ID = "3f1c9a56-2d7e-4b8a-9c41-0e5b7d2a6f10"
PAGE_URL = "https://kyc.example.com/t/Jx8…/"
CREATED = "2026-12-01T12:00:00.123456Z"

TRANSFER: dict[str, Any] = {
    "id": TRANSFER_ID,
    "provider": "corepass",
    "reference": "customer-42",
    "items": ["SH_EMAIL"],
    "status": "pending",
    "provider_status": "",
    "failure_code": "",
    "status_detail": "",
    "page_url": PAGE_URL,
    "deep_link": "corepass:sign/…",
    "expires_at": "2026-12-01T12:10:00Z",
    "created_at": CREATED,
    "updated_at": CREATED,
    "completed_at": None,
    "events": [
        {
            "created_at": CREATED,
            "kind": "status",
            "status": "pending",
            "provider_status": "",
            "tx_hash": "",
            "detail": "Waiting for the customer",
            "source": "api",
        }
    ],
    "data": [],
}
# A list row: the request with only the fields a list serves.
TRANSFER_ROW = {k: TRANSFER[k] for k in TransferListSerializer.Meta.fields}
CANCELLED = {
    **TRANSFER,
    "status": "cancelled",
    "status_detail": "Cancelled by the merchant",
    "completed_at": "2026-12-01T12:03:00Z",
}
FIELD_MASKED = {
    "key": "SH_EMAIL",
    "value": None,
    "masked": True,
    "status": "received",
    "received_at": CREATED,
}
RECORD = {
    "id": 1042,
    "reference": "customer-42",
    "provider": "corepass",
    "review_status": "approved",
    "created_at": CREATED,
    "updated_at": CREATED,
    "erased_at": None,
    "fields": [FIELD_MASKED],
    "certificates": [],
}
CERTIFICATE = {
    "id": 77,
    "provider": "sunbird",
    "slug": "python-basics",
    "external_id": "cert-5a1e",
    "status": "approved",
    "recipient_id": "learner-9",
    "course_id": "do_1131",
    "batch_id": "0131",
    "download_url": "https://sunbird.example.org/certs/cert-5a1e.pdf",
    "created_at": CREATED,
}


def transfer_create_requests() -> list[OpenApiExample]:
    return [
        OpenApiExample(
            "CorePass: ask for an e-mail address",
            value={
                "provider": "corepass",
                "reference": "customer-42",
                "coreid": sample_coreid(),
                "items": ["SH_EMAIL"],
            },
            description="The CoreID is one the CorePass sandbox knows.",
            request_only=True,
        ),
        OpenApiExample(
            "Incode: an onboarding with a return URL",
            value={
                "provider": "incode",
                "reference": "customer-43",
                "redirect_url": "https://shop.example.com/kyc-done",
            },
            request_only=True,
        ),
    ]


def ok(name: str, value: Any, status: str = "200") -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[status])


# One example per error status: the shape is the same everywhere (portal/api/errors.py).
ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": (
        "Invalid input",
        {
            "detail": "Invalid input: coreid: Wrong check digits (ICAN mod-97).",
            "code": "invalid",
            "errors": {"coreid": ["Wrong check digits (ICAN mod-97)."]},
        },
    ),
    "401": (
        "No or unknown API key",
        {"detail": "Unknown or revoked API key.", "code": "authentication_failed"},
    ),
    "403": (
        "The key lacks the scope",
        {
            "detail": "This API key lacks the 'write' scope this request needs; an owner or "
            "administrator can create a key with it on the API keys page.",
            "code": "permission_denied",
        },
    ),
    "404": (
        "Not this merchant's, or no such object",
        {"detail": "Not found.", "code": "not_found"},
    ),
    "409": (
        "Conflict",
        {
            "detail": "This request is already completed and can no longer be cancelled.",
            "code": "conflict",
        },
    ),
    "422": (
        "Idempotency-Key reused with another body",
        {
            "detail": "This Idempotency-Key was already used for a different request "
            "(another body or route); use a new key for a new request.",
            "code": "idempotency_key_reused",
        },
    ),
    "429": (
        "Throttled",
        {
            "detail": "Request was throttled. Expected available in 12 seconds.",
            "code": "throttled",
        },
    ),
    "503": (
        "The provider is down (the request is kept, failed)",
        {
            **TRANSFER,
            "status": "failed",
            "failure_code": "provider_unavailable",
            "status_detail": "The provider did not answer; try again later.",
            "events": [],
            "detail": "The provider did not answer; try again later.",
            "code": "provider_unavailable",
        },
    ),
}


# --- webhook endpoints and deliveries --------------------------------------------------

ENDPOINT: dict[str, Any] = {
    "id": 12,
    "url": "https://shop.example.com/hooks/kyc",
    "events": ["verification.completed", "verification.canceled"],
    "description": "Order service",
    "enabled": True,
    "disabled_reason": "",
    "disabled_at": None,
    "include_pii": False,
    "secret_rotating_until": None,
    "last_success_at": "2026-12-01T12:05:00Z",
    "last_failure_at": None,
    "last_error": "",
    "created_at": CREATED,
    "updated_at": CREATED,
}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ENDPOINT_CREATE = {
    "url": "https://shop.example.com/hooks/kyc",
    "events": ["verification.completed", "verification.canceled"],
    "description": "Order service",
}
ENDPOINT_UPDATE = {"events": ["*"], "enabled": True}
DELIVERY: dict[str, Any] = {
    "id": 3301,
    "webhook_id": "msg_6f1d0c3a9b8e4f2a8c7d5e4b3a291807",
    "event_type": "verification.completed",
    "endpoint": 12,
    "state": "succeeded",
    "attempt_count": 1,
    "next_attempt_at": None,
    "last_status": 200,
    "last_error": "",
    "created_at": CREATED,
    "attempts": [
        {
            "at": "2026-12-01T12:05:00Z",
            "status_code": 200,
            "latency_ms": 84,
            "response_body": "ok",
            "error": "",
            "trigger": "auto",
        }
    ],
}


def req(name: str, value: Any) -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)
