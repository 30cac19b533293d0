"""Shared pieces of every inbound endpoint: bounded body, stored first, short answers."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from kyc import ratelimit


class BodyTooLarge(Exception):
    pass


def read_body(request: HttpRequest) -> bytes:
    """The raw body, refused before reading when it is larger than MAX_BODY_BYTES."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.MAX_BODY_BYTES:
        raise BodyTooLarge(f"body of {declared} bytes is larger than {settings.MAX_BODY_BYTES}")
    body = request.read(settings.MAX_BODY_BYTES + 1)
    if len(body) > settings.MAX_BODY_BYTES:
        raise BodyTooLarge(f"body is larger than {settings.MAX_BODY_BYTES} bytes")
    return body


def headers_of(request: HttpRequest) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def remote_addr(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def answer(status: int, message: str, **extra: object) -> JsonResponse:
    """Short JSON answers: providers log them, so they say why without echoing input."""
    return JsonResponse({"ok": status < 300, "message": message, **extra}, status=status)


def too_many(request: HttpRequest, bucket: str) -> bool:
    return not ratelimit.hit(f"{bucket}:{remote_addr(request)}")
