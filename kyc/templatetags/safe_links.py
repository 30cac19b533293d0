"""`{{ url|safe_href:provider }}`: the URL when a customer page may render it as a link
(https:, the provider's app scheme, the portal's own sandbox), else "" (see kyc.links)."""

from __future__ import annotations

from django import template

from kyc.links import safe_href as _safe_href

register = template.Library()


@register.filter
def safe_href(url: str | None, provider: str = "") -> str:
    return _safe_href(url, provider)
