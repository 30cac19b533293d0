"""`{% merchant_actions as can %}`: what the signed-in user may do at their merchant, so
templates hide controls a role cannot use (the server answers 403 to them anyway)."""

from __future__ import annotations

from typing import Any

from django import template

from kyc import permissions

register = template.Library()


@register.simple_tag(takes_context=True)
def merchant_actions(context: Any) -> set[str]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return set()
    return permissions.actions_for(user, permissions.primary_merchant(user))
