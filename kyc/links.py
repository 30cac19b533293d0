"""Which URLs a customer page may render as links.

Deep links come from the provider's answer and return URLs from the merchant's API
call: both are untrusted text. A link is rendered only when it is https:, the
provider's own app scheme, or (with SANDBOX on) the portal's own sandbox phone page;
anything else (javascript:, data:, plain http:, ftp:, garbage) is not a link.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

# App schemes the providers' own apps register (a CorePass link opens the CorePass app).
APP_SCHEMES: dict[str, tuple[str, ...]] = {
    "corepass": ("corepass",),
}


def _sandbox_page(url: str, provider: str) -> bool:
    if not getattr(settings, "SANDBOX", False) or not provider:
        return False
    return url.startswith(f"{settings.PUBLIC_URL}/sandbox/{provider}/")


def safe_href(url: str | None, provider: str = "") -> str:
    """`url` when it may be a link on a customer page, else ""."""
    text = str(url or "").strip()
    if not text or any(c in text for c in "\r\n\t\\\"'<> "):
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme == "https":
        return text if parts.hostname and parts.username is None else ""
    if scheme and scheme in APP_SCHEMES.get(provider, ()):
        return text
    if _sandbox_page(text, provider):
        return text
    return ""
