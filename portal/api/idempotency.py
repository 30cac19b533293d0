"""`Idempotency-Key` on every POST of the API: a retried request is answered once.

A client that sends `Idempotency-Key: <up to 255 printable characters>` with a POST
gets, for the same API key, key and body within 24 hours, the answer the first request
got (same status, same body) with `Idempotent-Replayed: true`, and nothing is done
twice (no second verification at the provider). The same key with a different body or
on another route is refused with 422 (`idempotency_key_reused`).

Concurrent duplicates: the first request inserts its row (kyc.models.IdempotentRequest)
in a transaction of its own before doing anything, so a second one meets the unique
(api_key, key) constraint at once; it then waits for the first to finish (its
`completed_at`) and replays its answer, or answers 409 (`idempotency_in_progress`)
after API_IDEMPOTENCY_WAIT_SECONDS. A request that dies with a server error releases
its row, so a retry runs again. What is stored: the status and the JSON body
(encrypted at rest); requests refused before they ran (401, 403, 429) are not stored.
Keys belong to one API key: another key may use the same value independently. The
browsable API's session requests do not use it (there is no API key to keep it under).
Rows older than 24 hours are purged by the daily retention task
(kyc.services.idempotent_requests_purge).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from kyc.models import ApiKey, IdempotentRequest
from kyc.services import IDEMPOTENCY_WINDOW
from portal.api import errors

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
_POLL_SECONDS = 0.05

# Prose for the docs (the header parameter of every POST). Module level: wording, not logic.
DESCRIPTION = (
    "Optional; any unique string (up to 255 printable characters, e.g. a UUID) you choose "
    "per operation. Retrying with the same key and body within 24 h returns the first "
    "answer (same status and body, header `Idempotent-Replayed: true`) and does nothing "
    "twice; the same key with another body or route is a 422; while the first request "
    "is still running a duplicate waits for it (409 if it takes too long). Keys are per "
    "API key."
)


def wait_seconds() -> float:
    return float(getattr(settings, "API_IDEMPOTENCY_WAIT_SECONDS", 10))


class _Replay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _fingerprint(request: Request) -> str:
    """The body as parsed (key order and whitespace do not matter), hashed."""
    data: Any = request.data
    if hasattr(data, "lists"):  # a QueryDict (form posts)
        data = {k: v for k, v in data.lists()}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key_from(request: Request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    if not raw or len(raw) > MAX_KEY_LENGTH or not raw.isprintable() or not raw.isascii():
        raise ValidationError(
            {HEADER: [f"Use 1 to {MAX_KEY_LENGTH} printable ASCII characters, e.g. a UUID."]}
        )
    return raw


def _replay(row: IdempotentRequest) -> Response:
    stored = row.response or {}
    body = json.loads(stored["body"]) if stored.get("body") else None
    return Response(body, status=row.status_code, headers={REPLAYED_HEADER: "true"})


def _claim(
    *, api_key: ApiKey, key: str, method: str, path: str, body_hash: str
) -> IdempotentRequest:
    """Our row, inserted and committed; or _Replay / 422 / 409 for a key already used."""
    deadline = time.monotonic() + wait_seconds()
    while True:
        try:
            with transaction.atomic():
                return IdempotentRequest.objects.create(
                    api_key=api_key, key=key, method=method, path=path[:500], body_hash=body_hash
                )
        except IntegrityError:
            pass
        row = IdempotentRequest.objects.filter(api_key=api_key, key=key).first()
        if row is None:
            continue  # the first request failed and released the key: run this one
        if row.created_at < timezone.now() - IDEMPOTENCY_WINDOW:
            IdempotentRequest.objects.filter(pk=row.pk).delete()  # expired, not yet purged
            continue
        if row.body_hash != body_hash or row.method != method or row.path != path[:500]:
            raise errors.ApiError(
                "This Idempotency-Key was already used for a different request "
                "(another body or route); use a new key for a new request.",
                code=errors.IDEMPOTENCY_KEY_REUSED,
                status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        if row.completed_at is not None:
            raise _Replay(_replay(row))
        if time.monotonic() >= deadline:
            raise errors.conflict(
                "A request with this Idempotency-Key is still being processed; "
                "retry in a moment to get its answer.",
                code=errors.IDEMPOTENCY_IN_PROGRESS,
            )
        time.sleep(_POLL_SECONDS)


class IdempotentPostMixin:
    """For DRF views: every POST authenticated by an API key honours Idempotency-Key.

    Runs after authentication, permissions and throttling (`initial`), so a refused
    request is never stored; stores the final answer in `finalize_response`.
    """

    _idempotent_row: IdempotentRequest | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._idempotent_row = None
        if request.method != "POST" or not isinstance(request.auth, ApiKey):
            return
        key = _key_from(request)
        if key is None:
            return
        self._idempotent_row = _claim(
            api_key=request.auth,
            key=key,
            method="POST",
            path=request.path,
            body_hash=_fingerprint(request),
        )

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            return exc.response
        try:
            return super().handle_exception(exc)  # type: ignore[misc, no-any-return]
        except Exception:
            self._release()  # a server error: nothing answered, so a retry may run
            raise

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        row = self._idempotent_row
        if row is not None:
            self._idempotent_row = None
            if response.status_code >= 500 and response.status_code != 503:
                self._release(row)
            else:
                text = JSONRenderer().render(response.data).decode() if response.data else ""
                row.status_code = response.status_code
                row.response = {"body": text}
                row.completed_at = timezone.now()  # one write: waiters see all or nothing
                row.save(update_fields=["status_code", "response", "completed_at"])
        return response

    def _release(self, row: IdempotentRequest | None = None) -> None:
        row = row or self._idempotent_row
        self._idempotent_row = None
        if row is not None:
            IdempotentRequest.objects.filter(pk=row.pk).delete()
