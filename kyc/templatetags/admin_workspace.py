"""`{% review_summary as summary %}`: the admin index's count of reviews waiting at the
user's merchants (count, oldest wait, overdue, assigned to the user)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from kyc import permissions, selectors
from kyc.permissions import Action

register = template.Library()


@register.simple_tag(takes_context=True)
def review_summary(context: Any) -> dict[str, Any] | None:
    from kyc.admin.review import human_age, sla_state

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    ids = permissions.merchants_where(user, Action.VIEW)
    if not ids:
        return None
    now = timezone.now()
    waiting = list(
        selectors.review_queue(ids)
        .select_related("merchant")
        .only(
            "pk", "review_assignee_id", "review_since", "created_at", "merchant__review_sla_hours"
        )[:1000]
    )
    since = [r.waiting_since for r in waiting]  # type: ignore[attr-defined]
    overdue = sum(
        sla_state(s, r.merchant.review_sla_hours, now)["tone"] == "bad"
        for s, r in zip(since, waiting, strict=True)
    )
    return {
        "count": len(waiting) if len(waiting) < 1000 else selectors.review_queue(ids).count(),
        "oldest": human_age(now - since[0]) if since else "",
        "overdue": overdue,
        "mine": sum(1 for r in waiting if r.review_assignee_id == user.pk),
    }
