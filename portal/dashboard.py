"""The merchant dashboard: how verifications are going, at a glance.

Every figure comes from one aggregate query (kyc.selectors.dashboard_*), so the page
costs the same number of queries at 10 requests as at 100,000.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kyc import selectors
from kyc.models import ProviderAccount
from kyc.permissions import Action, current_merchant, require
from portal import charts

DAYS = 30
RECENT = 10


def dashboard_context(merchant: Any) -> dict[str, Any]:
    counts = selectors.dashboard_counts(merchant, days=DAYS)
    daily = selectors.dashboard_daily(merchant, days=DAYS, counts=counts)
    funnel = selectors.dashboard_funnel(merchant, days=DAYS, counts=counts)
    median = selectors.dashboard_median_time(merchant, days=DAYS)
    reviews = selectors.dashboard_reviews_waiting(merchant)
    for row in funnel:
        m = median["providers"].get(row["provider"]) or {}
        row["median"] = charts.duration_words(m.get("median"))
        row["median_count"] = m.get("count", 0)
    return {
        "days": DAYS,
        "daily": charts.daily_chart(daily),
        "funnel": charts.funnel_chart(funnel),
        "funnel_rows": funnel,
        "median": charts.duration_words(median["overall"]),
        "median_count": median["count"],
        "reviews": reviews,
        "reviews_chart": charts.review_bars(reviews["buckets"]),
        "oldest_review": charts.duration_words(reviews["oldest_age"]),
    }


@login_required
@require(Action.VIEW)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    merchant = current_merchant(request)
    return render(
        request,
        "portal/dashboard.html",
        {
            "merchant": merchant,
            **dashboard_context(merchant),
            "transfers": selectors.transfers_for_merchant(merchant)
            .only("id", "reference", "provider", "status", "created_at")
            .select_related(None)
            .order_by("-created_at")[:RECENT],
            "accounts": ProviderAccount.objects.filter(merchant=merchant)
            .only("id", "provider", "enabled")
            .order_by("provider"),
        },
    )
