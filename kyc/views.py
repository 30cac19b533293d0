"""Customer pages: the QR page and the status fragment htmx polls."""

from __future__ import annotations

import re

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from kyc import ratelimit, selectors
from kyc.models import TransferRequest
from kyc.webhooks import remote_addr

_PHONE = re.compile(r"Mobi|Android|iPhone|iPad|iPod", re.I)


def _limited(request: HttpRequest) -> bool:
    return not ratelimit.hit(f"page:{remote_addr(request)}")


@require_GET
def transfer_page(request: HttpRequest, token: str) -> HttpResponse:
    if _limited(request):
        return HttpResponse("Too many requests, slow down.", status=429)
    transfer = (
        TransferRequest.objects.filter(page_token=token)
        .select_related("merchant")
        .only(
            "id",
            "page_token",
            "provider",
            "qr_svg",
            "deep_link",
            "merchant__name",
            "expires_at",
            "status",
        )
        .first()
    )
    if transfer is None:
        raise Http404("No such request")
    state = selectors.transfer_page_state(page_token=token)
    response = render(
        request,
        "kyc/customer/page.html",
        {
            "transfer": transfer,
            "state": state,
            "is_phone": bool(_PHONE.search(request.headers.get("User-Agent", ""))),
        },
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def transfer_status(request: HttpRequest, token: str) -> HttpResponse:
    """Polled every 2 s. Served from the cache; answers 286 once terminal so htmx stops."""
    # One Redis round trip for both the rate limit and the cached state: this is the
    # hottest endpoint (every open customer page, every 2 s).
    allowed, state = ratelimit.hit_and_get(
        f"page:{remote_addr(request)}", selectors.page_state_key(token)
    )
    if not allowed:
        return HttpResponse("Too many requests", status=429)
    if state is None:  # not cached yet (or the cache is down): from the database
        state = selectors.transfer_page_state(page_token=token)
    if state is None:
        raise Http404("No such request")
    from kyc import page_hooks

    page_hooks.on_poll(token=token, provider=state["provider"], terminal=state["terminal"])
    response = render(request, "kyc/customer/_status.html", {"state": state, "token": token})
    if state["terminal"]:
        stop = HttpResponseStopPolling(response.content)
        stop["Cache-Control"] = "no-store"
        return stop
    response["Cache-Control"] = "no-store"
    return response
