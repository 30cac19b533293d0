"""Typed errors every provider raises. Each says whether trying again can help."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class ProviderError(Exception):
    """Base class. `code` is a short machine-readable reason shown to merchants.

    `message` is shown to merchants (settings page, API `status_detail`, `last_error`,
    transfer events), so it is written by the portal and never carries what the provider
    sent back. `detail` holds the provider's own words (a body excerpt, the URL path) for
    the server log and for code that recognises known answers; it is never rendered.
    """

    retryable: bool = False
    code: str = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class PermanentError(ProviderError):
    """The provider said no; the same call will fail the same way."""

    retryable = False
    code = "provider_rejected"


class RetryableError(ProviderError):
    """Timeout, connection failure or 5xx: the same call may succeed later."""

    retryable = True
    code = "provider_unavailable"


class AuthenticationError(PermanentError):
    """Credentials refused (401/403) after any refresh the caller tried."""

    code = "provider_auth_failed"


class NotFoundError(PermanentError):
    code = "provider_not_found"


class OutboundRefused(PermanentError):
    """The portal itself refused to make the call: the URL or the address it resolves to is
    outside the outbound policy (kyc/http.py). Nothing was sent."""

    code = "outbound_refused"


def answer_parse(parse: Callable[[Any], T], answer: Any, what: str) -> T:
    """`parse(answer)`, where a ValueError (the provider's answer is not the shape its
    schema reads) becomes a PermanentError that names the call `what`, never the answer."""
    try:
        return parse(answer)
    except ValueError as exc:
        raise PermanentError(
            f"{what}: the provider's answer has an unexpected shape.",
            code="provider_bad_answer",
            detail=str(exc)[:300],
        ) from None


class InvalidInput(ValueError):
    """Input from a merchant or customer is wrong; `field` names which part."""

    def __init__(self, message: str, *, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class SignatureError(ValueError):
    """An inbound delivery failed verification. `reason` is short and safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
