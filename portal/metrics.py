"""`/metrics` for Prometheus, and the middleware that times every request.

The figures themselves are defined in kyc/metrics.py. The endpoint answers only a
scraper that shows `Authorization: Bearer <METRICS_TOKEN>` or comes from a network in
METRICS_ALLOW_NETWORKS (default: loopback only); anyone else gets 401 (no credentials)
or 403 (wrong ones). Behind a reverse proxy every request comes from the proxy's
address: set METRICS_TOKEN, or keep /metrics off the proxy.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from kyc import metrics

DEFAULT_ALLOW_NETWORKS = ("127.0.0.0/8", "::1/128")


class RequestLatencyMiddleware:
    """Times the whole request (first in MIDDLEWARE), labelled by the resolved URL name:
    `/t/<token>/status` counts as `kyc:transfer_status`, never as its token. A path that
    resolves to nothing counts as `unresolved`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match.url_name or "unnamed") if match else "unresolved"
        method = request.method if request.method in _METHODS else "OTHER"
        metrics.request_observed(view, method, response.status_code, time.perf_counter() - start)
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = getattr(settings, "METRICS_ALLOW_NETWORKS", None)
    entries = DEFAULT_ALLOW_NETWORKS if raw is None else raw
    return [ipaddress.ip_network(str(n).strip(), strict=False) for n in entries if str(n).strip()]


def _from_allowed_network(request: HttpRequest) -> bool:
    try:
        addr = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return any(addr in net for net in _allowed_networks())


def _bearer(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION") or ""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = str(getattr(settings, "METRICS_TOKEN", "") or "")
    presented = _bearer(request)
    if token and presented is not None and hmac.compare_digest(presented, token):
        allowed = True
    else:
        allowed = presented is None and _from_allowed_network(request)
    if not allowed:
        if presented is None:
            response = HttpResponse("Metrics need a bearer token.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        else:
            response = HttpResponse("Wrong metrics token.\n", status=403)
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    body, content_type = metrics.exposition()
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
