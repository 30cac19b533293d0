"""Merchant console helpers: status badges that speak words, never provider codes."""

from __future__ import annotations

from typing import Any

from django import template

from kyc.selectors import OUTCOME_OF_STATUS, OUTCOMES

register = template.Library()


@register.filter
def outcome(status: str) -> str:
    """The dashboard's outcome group of a status (completed, failed, abandoned, open)."""
    return OUTCOME_OF_STATUS.get(status, OUTCOMES[-1])


@register.inclusion_tag("portal/_badge.html")
def status_badge(obj: Any) -> dict[str, Any]:
    """A badge with the status's human label (get_status_display), coloured by outcome."""
    status = str(getattr(obj, "status", "") or "")
    return {
        "label": obj.get_status_display() if hasattr(obj, "get_status_display") else status,
        "outcome": OUTCOME_OF_STATUS.get(status, OUTCOMES[-1]),
        "status": status,
    }
