"""Incode endpoints: the webhook, the seed's token-server endpoints, a staff review page."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kyc import permissions, selectors, services
from kyc import tasks as kyc_tasks
from kyc.flows.incode import services as incode_services
from kyc.models import InboundEvent, Merchant, ProviderAccount, TransferRequest
from kyc.permissions import Action
from kyc.status import Status
from kyc.webhooks import BodyTooLarge, answer, headers_of, read_body, remote_addr, too_many
from providers.errors import InvalidInput
from providers.incode import schemas

PROVIDER = "incode"


# --- webhook ----------------------------------------------------------------------


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, token: str) -> HttpResponse:
    """Onboarding-status webhook. Stored first; unsigned, so only a hint to go and look."""
    if too_many(request, "incode-hook"):
        return answer(429, "too many requests")
    common: dict[str, Any] = {
        "provider": PROVIDER,
        "path": request.path[:500],
        "headers": headers_of(request),
        "remote_addr": remote_addr(request),
    }
    account = (
        ProviderAccount.objects.filter(provider=PROVIDER, webhook_token=token)
        .select_related("merchant")
        .first()
    )
    try:
        body = read_body(request)
    except BodyTooLarge as exc:
        services.inbound_store(
            **common, body=None, account=account, state=InboundEvent.State.REFUSED, error=str(exc)
        )
        return answer(413, "body too large")
    if account is None:
        services.inbound_store(
            **common, body=body, state=InboundEvent.State.REFUSED, error="unknown webhook URL"
        )
        return answer(404, "unknown webhook URL")
    try:
        hook = schemas.parse_webhook(body)
    except schemas.BadPayload as exc:
        services.inbound_store(
            **common, body=body, account=account, state=InboundEvent.State.REFUSED, error=str(exc)
        )
        return answer(400, str(exc))
    transfer = incode_services.find_transfer(account=account, interview_id=hook.interview_id)
    if transfer is None:
        # Kept (staff can reprocess it once the interview is known), nothing changes.
        services.inbound_store(
            **common,
            body=body,
            account=account,
            kind=hook.onboarding_status,
            state=InboundEvent.State.IGNORED,
            error="unknown interview; nothing changed",
        )
        return answer(200, "kept: unknown interview")
    event, original = services.inbound_store(
        **common,
        body=body,
        account=account,
        transfer=transfer,
        kind=hook.onboarding_status,
        dedupe_key=incode_services.webhook_dedupe_key(
            account_id=account.pk,
            interview_id=hook.interview_id,
            status=hook.onboarding_status,
        ),
    )
    if original is not None:
        return answer(200, "duplicate: no effect")
    event_id = event.pk
    transaction.on_commit(lambda: kyc_tasks.process_inbound.delay(event_id))
    return answer(200, "received")


# --- token-server endpoints (seed: GET /start, GET /onboarding-url) -----------------


def _merchant_for(request: HttpRequest) -> Merchant | None:
    """`Authorization: Bearer <portal API key>`: the same keys as the REST API."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not raw.strip():
        return None
    key = selectors.api_key_for_token(raw.strip())
    if key is None:
        return None
    services.api_key_touch(key=key)
    return key.merchant


def _json(data: dict[str, object], status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _start(request: HttpRequest, *, with_url: bool) -> HttpResponse:
    merchant = _merchant_for(request)
    if merchant is None:
        response = _json(
            {"error": "An API key is required: 'Authorization: Bearer <api key>'."}, 401
        )
        response["WWW-Authenticate"] = "Bearer"
        return response
    redirect_url = request.GET.get("redirectUrl") or request.GET.get("redirectionUrl") or ""
    if redirect_url:
        try:
            URLValidator(schemes=["http", "https"])(redirect_url)
        except ValidationError:
            return _json({"error": "redirectUrl must be an http(s) URL"}, 400)
    reference = (request.GET.get("reference") or "").strip()[:200] or f"sdk-{secrets.token_hex(8)}"
    try:
        transfer = services.transfer_create(
            merchant=merchant,
            provider=PROVIDER,
            reference=reference,
            redirect_url=redirect_url[:1000],
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


@require_GET
def sdk_start(request: HttpRequest) -> HttpResponse:
    return _start(request, with_url=False)


@require_GET
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
    return render(
        request,
        "kyc/incode/review.html",
        {
            "transfer": transfer,
            "score": (transfer.provider_data or {}).get("score") or {},
            "error": error,
            "events": transfer.events.all(),
        },
        status=400 if error else 200,
    )
