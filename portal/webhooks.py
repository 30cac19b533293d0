"""Merchant pages for outgoing webhooks: endpoints, their health, the delivery log, replay.

Owners and administrators manage endpoints (the permission table's "manage API keys": an
endpoint's secret is an integration credential like a key). Writes go through kyc/outbox.py.
A new or rotated secret is rendered once in the answer to the POST and never stored in
the session or shown again.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kyc import outbox
from kyc.errors import InvalidInput
from kyc.models import Merchant, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from kyc.permissions import Action, primary_merchant, require

MANAGE = Action.MANAGE_API_KEYS  # owner and admin

PYTHON_SNIPPET = """# pip install standardwebhooks
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

wh = Webhook("whsec_...")  # this endpoint's secret

def handle(request):  # e.g. a Django view
    try:
        event = wh.verify(request.body, dict(request.headers))
    except WebhookVerificationError:
        return HttpResponse(status=400)
    # webhook-id is the same on every retry: skip ids you have already processed.
    if already_processed(request.headers["webhook-id"]):
        return HttpResponse(status=200)
    process(event["type"], event["data"])  # compare data["sequence"] to drop stale updates
    return HttpResponse(status=200)
"""

NODE_SNIPPET = """// npm install standardwebhooks express
const express = require("express");
const { Webhook } = require("standardwebhooks");

const wh = new Webhook("whsec_...".replace("whsec_", ""));  // this endpoint's secret
const app = express();

// Verify the raw body: parsing and re-serialising JSON breaks the signature.
app.post("/hooks/kyc", express.raw({ type: "application/json" }), (req, res) => {
  let event;
  try {
    event = wh.verify(req.body.toString("utf8"), req.headers);
  } catch (err) {
    return res.status(400).end();
  }
  // webhook-id is the same on every retry: skip ids you have already processed.
  console.log(req.headers["webhook-id"], event.type, event.data.sequence);
  res.status(200).end();
});
"""


def _merchant(request: HttpRequest) -> Merchant:
    merchant = primary_merchant(request.user)
    assert merchant is not None  # @require answered 404 otherwise
    return merchant


def _endpoint(request: HttpRequest, pk: int) -> WebhookEndpoint:
    """One of the user's merchant's endpoints (another merchant's is a 404)."""
    return get_object_or_404(WebhookEndpoint, pk=pk, merchant=_merchant(request))


def _back_to_endpoint(request: HttpRequest, endpoint_id: int, message: str) -> HttpResponse:
    """Say what was done, on the endpoint's page."""
    messages.success(request, message)
    return redirect("webhook_detail", pk=endpoint_id)


class EndpointForm(forms.Form):
    url = forms.CharField(
        max_length=1000,
        label="URL",
        help_text="https URL of your backend; public addresses only, redirects are not followed.",
    )
    events = forms.MultipleChoiceField(
        choices=[("*", "Every event")] + [(e, e) for e in outbox.EVENT_TYPES if e != "ping"],
        initial=["*"],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )
    description = forms.CharField(max_length=200, required=False)


def _health(endpoints: list[WebhookEndpoint]) -> list[tuple[WebhookEndpoint, dict[str, Any]]]:
    return [(ep, outbox.endpoint_health(ep)) for ep in endpoints]


def _snippets() -> dict[str, str]:
    return {"python_snippet": PYTHON_SNIPPET, "node_snippet": NODE_SNIPPET}


@login_required
@require(MANAGE)
@require_http_methods(["GET", "POST"])
def webhooks(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    form = EndpointForm(request.POST or None)
    created: WebhookEndpoint | None = None
    secret = ""
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = outbox.webhook_endpoint_create(
                merchant=merchant,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
                actor=request.user,
            )
        except InvalidInput as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            form = EndpointForm()
    endpoints = list(WebhookEndpoint.objects.filter(merchant=merchant).order_by("-created_at"))
    return render(
        request,
        "portal/webhooks.html",
        {
            "merchant": merchant,
            "form": form,
            "rows": _health(endpoints),
            "created": created,
            "secret": secret,
            **_snippets(),
        },
        status=400 if request.method == "POST" and created is None else 200,
    )


@login_required
@require(MANAGE)
@require_http_methods(["GET"])
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    return _detail(request, endpoint)


def _detail(request: HttpRequest, endpoint: WebhookEndpoint, secret: str = "") -> HttpResponse:
    deliveries = (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("message")
        .prefetch_related(Prefetch("attempts_log", WebhookAttempt.objects.order_by("-at", "-id")))
        .order_by("-id")
    )
    page = Paginator(deliveries, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/webhook_detail.html",
        {
            "endpoint": endpoint,
            "health": outbox.endpoint_health(endpoint),
            "page": page,
            "secret": secret,
            **_snippets(),
        },
    )


@login_required
@require(MANAGE)
@require_POST
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    secret = outbox.webhook_endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
    messages.success(request, "New secret created; the previous one also signs for 24 hours.")
    return _detail(request, endpoint, secret=secret)


@login_required
@require(MANAGE)
@require_POST
def webhook_test(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    message = outbox.webhook_endpoint_test(endpoint=endpoint)
    return _back_to_endpoint(
        request, endpoint.pk, f"Test event {message.msg_id} queued; it appears below once sent."
    )


@login_required
@require(MANAGE)
@require_POST
def webhook_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    outbox.webhook_endpoint_update(
        endpoint=endpoint, enabled=not endpoint.enabled, actor=request.user
    )
    return _back_to_endpoint(
        request, endpoint.pk, "Endpoint enabled." if endpoint.enabled else "Endpoint disabled."
    )


@login_required
@require(MANAGE)
@require_POST
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    outbox.webhook_endpoint_delete(endpoint=endpoint, actor=request.user)
    messages.success(request, "Endpoint deleted; nothing more is sent to it.")
    return redirect("webhooks")


@login_required
@require(MANAGE)
@require_POST
def webhook_replay(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery, pk=pk, endpoint__merchant=_merchant(request))
    outbox.webhook_delivery_replay(delivery=delivery, actor=request.user)
    return _back_to_endpoint(
        request, delivery.endpoint_id, "Delivery queued again with its original webhook-id."
    )
