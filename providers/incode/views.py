"""Incode endpoints: the webhook, the token-server endpoints of Incode's guide, a staff review page."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from kyc import intake, permissions, selectors, services
from kyc.errors import InvalidInput
from kyc.models import ApiKey, TransferRequest
from kyc.permissions import Action
from kyc.status import Status
from providers.incode import services as incode_services

PROVIDER = "incode"


# --- webhook ----------------------------------------------------------------------


@intake.inbound(provider=PROVIDER)
def webhook(request: HttpRequest, token: str) -> HttpResponse:
    """Onboarding-status webhook: unsigned, so only a hint (IncodeProvider.inbound_check)."""
    return intake.receive(request)


# --- token-server endpoints (Incode's guide: GET /start, GET /onboarding-url) -------
#
# Incode's guide takes everything in the query string. Query strings are written to access
# logs (the portal's, a proxy's, the load balancer's), and merchants use e-mail
# addresses as references, so only the redirect URL is accepted there; the reference
# comes in the body of a POST (JSON or form) or in the X-Reference header.

QUERY_PARAMS = frozenset({"redirectUrl", "redirectionUrl"})
REFERENCE_HEADER = "X-Reference"


def _key_for(request: HttpRequest) -> ApiKey | None:
    """`Authorization: Bearer <portal API key>`: the same keys as the REST API."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not raw.strip():
        return None
    key = selectors.api_key_for_token(raw.strip())
    if key is None:
        return None
    services.api_key_touch(key=key)
    return key


def _json(data: dict[str, object], status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    return response


class _BadInput(Exception):
    pass


def _body(request: HttpRequest) -> dict[str, Any]:
    """A POST's parameters: a JSON object or a form; nothing for a GET."""
    if request.method != "POST":
        return {}
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            raise _BadInput("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _BadInput("the JSON body must be an object")
        return data
    return request.POST.dict()


def _text(data: dict[str, Any], *names: str, limit: int) -> str:
    for name in names:
        value = data.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise _BadInput(f"{name} must be a string")
        value = value.strip()
        if len(value) > limit:
            raise _BadInput(f"{name} is longer than {limit} characters")
        return value
    return ""


def _start_input(request: HttpRequest) -> tuple[str, str]:
    """(reference, redirect URL) from where each may come; _BadInput says what is wrong."""
    unknown = sorted(set(request.GET) - QUERY_PARAMS)
    if unknown:
        # Names only: the values may be exactly what must not be echoed or logged.
        names = ", ".join(n[:40] for n in unknown[:5])
        raise _BadInput(
            f"query parameter(s) not accepted: {names}. Query strings end up in access "
            f"logs: send the customer reference in the body of a POST (JSON or form "
            f'field "reference") or in the {REFERENCE_HEADER} header; only redirectUrl '
            "may be in the query."
        )
    body = _body(request)
    reference = _text(body, "reference", limit=200) or _text(
        {"reference": request.headers.get(REFERENCE_HEADER, "")}, "reference", limit=200
    )
    redirect_url = _text(body, "redirectUrl", "redirectionUrl", limit=1000) or _text(
        request.GET.dict(), "redirectUrl", "redirectionUrl", limit=1000
    )
    if redirect_url:
        try:
            URLValidator(schemes=["http", "https"])(redirect_url)
        except ValidationError:
            raise _BadInput("redirectUrl must be an http(s) URL") from None
    return reference, redirect_url


def _start(request: HttpRequest, *, with_url: bool) -> HttpResponse:
    key = _key_for(request)
    if key is None:
        response = _json(
            {"error": "An API key is required: 'Authorization: Bearer <api key>'."}, 401
        )
        response["WWW-Authenticate"] = "Bearer"
        return response
    if not key.has_scope(ApiKey.Scope.WRITE):  # it starts a (paid) verification
        return _json({"error": ApiKey.missing_scope_message(ApiKey.Scope.WRITE)}, 403)
    try:
        reference, redirect_url = _start_input(request)
    except _BadInput as exc:
        return _json({"error": str(exc)}, 400)
    try:
        transfer = services.transfer_create(
            merchant=key.merchant,
            provider=PROVIDER,
            reference=reference or f"sdk-{secrets.token_hex(8)}",
            redirect_url=redirect_url,
            source="api",
        )
    except InvalidInput as exc:
        return _json({"error": exc.message}, 400)
    if transfer.status == Status.FAILED:
        code = 503 if transfer.failure_code in ("provider_unavailable", "provider_timeout") else 502
        return _json({"error": transfer.failure_code, "message": transfer.status_detail}, code)
    # Only what the Incode SDK needs: the session token, never the API key.
    body: dict[str, object] = {
        "token": (transfer.provider_secrets or {}).get("session_token", ""),
        "interviewId": transfer.provider_ref,
        "transferId": str(transfer.pk),
    }
    if with_url:
        body["url"] = transfer.deep_link
    return _json(body)


# POST carries the reference in its body; authenticated by the API key alone (no
# cookie), so there is no session for a cross-site request to ride: no CSRF token.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def sdk_start(request: HttpRequest) -> HttpResponse:
    return _start(request, with_url=False)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def sdk_onboarding_url(request: HttpRequest) -> HttpResponse:
    return _start(request, with_url=True)


# --- compliance review with a reason ----------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest, pk: str) -> HttpResponse:
    """Approve or reject an Incode request waiting for review, with a reason."""
    if not request.user.is_staff or not request.user.has_perm("kyc.change_transferrequest"):
        raise Http404("No such request")
    transfer = (
        TransferRequest.objects.filter(
            pk=pk, provider=PROVIDER, merchant_id__in=selectors.merchant_ids_for_user(request.user)
        )
        .select_related("merchant", "record")
        .first()
    )
    if transfer is None:
        raise Http404("No such request")
    if not permissions.can(request.user, transfer.merchant, Action.REVIEW):
        return permissions.forbidden(request, transfer.merchant, Action.REVIEW)
    error = ""
    if request.method == "POST":
        decision = request.POST.get("decision")
        reason = (request.POST.get("reason") or "").strip()[:1000]
        if decision not in ("approve", "reject"):
            error = "Choose approve or reject."
        elif decision == "reject" and not reason:
            error = "A rejection needs a reason."
        elif transfer.status != Status.REVIEW:
            error = f"This request is {transfer.get_status_display().lower()}, not in review."
        else:
            incode_services.transfer_decide(
                transfer=transfer, approve=decision == "approve", reason=reason, actor=request.user
            )
            return redirect("incode_review", pk=transfer.pk)
    from django.contrib import admin  # the page keeps the admin's look (header, breadcrumbs)

    return render(
        request,
        "kyc/incode/review.html",
        {
            **admin.site.each_context(request),
            "title": f"Incode review · {transfer.reference}",
            "transfer": transfer,
            "score": (transfer.provider_data or {}).get("score") or {},
            "error": error,
            "events": transfer.events.all(),
        },
        status=400 if error else 200,
    )
