"""Merchant pages: API keys and provider settings; and /healthz.

The dashboard is portal/dashboard.py, verifications portal/transfers.py, customers
portal/customers.py."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from kyc import permissions, registry, services
from kyc.errors import ProviderError
from kyc.models import ApiKey, ProviderAccount
from kyc.permissions import Action, current_merchant, require


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses this key, e.g. 'shop backend'.")
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        initial=[ApiKey.Scope.READ, ApiKey.Scope.WRITE],
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "Give a key only what its program needs. Warning: 'pii' lets anyone holding "
            "the key read your customers' decrypted identity data; every such read is audited."
        ),
        error_messages={"required": "Choose at least one scope."},
    )

    def __init__(self, *args: Any, may_grant_pii: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A key with `pii` reads what its creator could reveal: only someone who may
        # reveal personal data can hand that out (an admin manages keys, not PII).
        self.may_grant_pii = may_grant_pii

    def clean_scopes(self) -> list[str]:
        scopes: list[str] = self.cleaned_data["scopes"]
        if ApiKey.Scope.PII in scopes and not self.may_grant_pii:
            raise forms.ValidationError(
                "Only a member who may reveal personal data can grant the 'pii' scope."
            )
        return scopes


@login_required
@require(Action.MANAGE_API_KEYS)
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    merchant = current_merchant(request)
    new_key = None
    may_grant_pii = permissions.can(request.user, merchant, Action.REVEAL_PII)
    form = ApiKeyForm(request.POST or None, may_grant_pii=may_grant_pii)
    if request.method == "POST" and form.is_valid():
        _, new_key = services.api_key_create(
            merchant=merchant,
            name=form.cleaned_data["name"],
            created_by=request.user,
            scopes=form.cleaned_data["scopes"],
        )
        form = ApiKeyForm(may_grant_pii=may_grant_pii)
    keys = ApiKey.objects.filter(merchant=merchant).order_by("-created_at")
    return render(
        request,
        "portal/api_keys.html",
        {"form": form, "keys": keys, "new_key": new_key, "merchant": merchant},
    )


@login_required
@require(Action.MANAGE_API_KEYS)
@require_http_methods(["GET", "POST"])
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation step (what stops working). POST: revoke."""
    key = get_object_or_404(ApiKey, pk=pk, merchant=current_merchant(request))
    if request.method == "GET":
        return render(request, "portal/api_key_revoke.html", {"key": key})
    if key.revoked_at is not None:
        messages.info(request, f"Key {key.prefix}… was already revoked.")
        return redirect("api_keys")
    services.api_key_revoke(key=key, actor=request.user)
    messages.success(request, f"Key {key.prefix}… revoked; calls with it now get 401.")
    return redirect("api_keys")


@login_required
@require(Action.MANAGE_PROVIDER_SETTINGS)
@require_GET
def provider_settings_index(request: HttpRequest) -> HttpResponse:
    merchant = current_merchant(request)
    accounts = {a.provider: a for a in ProviderAccount.objects.filter(merchant=merchant)}
    rows = [(name, label, accounts.get(name)) for name, label in registry.choices()]
    return render(request, "portal/provider_index.html", {"rows": rows, "merchant": merchant})


class EnabledForm(forms.Form):
    enabled = forms.BooleanField(
        required=False, help_text="Off: the API refuses new requests for this provider."
    )


@login_required
@require(Action.MANAGE_PROVIDER_SETTINGS)
@require_http_methods(["GET", "POST"])
def provider_settings(request: HttpRequest, provider: str) -> HttpResponse:
    try:
        adapter = registry.get(provider)
    except registry.UnknownProvider:
        raise Http404("Unknown provider") from None
    merchant = current_merchant(request)
    account = services.provider_account_get_or_create(merchant=merchant, provider=provider)
    form = adapter.form_class(request.POST or None, stored=account.settings)
    enabled_form = EnabledForm(
        request.POST or None, initial={"enabled": account.enabled}, prefix="acct"
    )
    test_result: dict[str, Any] | None = None
    if request.method == "POST" and "test" in request.POST:
        # Test exactly what is on the screen (stored secrets only while the address is
        # unchanged, see ProviderSettingsForm): nothing is saved, no stored state is used,
        # and the page keeps the edits (htmx swaps only the result; without it, the form is
        # shown again as submitted).
        test_result = _test_connection(adapter, form)
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, "portal/_test_result.html", {"result": test_result})
    elif request.method == "POST" and form.is_valid() and enabled_form.is_valid():
        services.provider_account_update(
            account=account,
            settings_=form.merged_settings(),
            enabled=enabled_form.cleaned_data["enabled"],
            actor=request.user,
        )
        messages.success(request, "Settings saved.")
        return redirect("provider_settings", provider=provider)
    return render(
        request,
        "portal/provider_settings.html",
        {
            "adapter": adapter,
            "account": account,
            "form": form,
            "enabled_form": enabled_form,
            "webhook_url": f"{settings.PUBLIC_URL}/hooks/{provider}/{account.webhook_token}/",
            "uses_webhook_url": adapter.form_class.uses_webhook_url,
            "setup_steps": adapter.form_class.setup_steps,
            "state_lines": adapter.describe_state(state=account.state or {}),
            "test_result": test_result,
        },
    )


def _test_connection(adapter: Any, form: Any) -> dict[str, Any]:
    """{"ok": bool, "text": str} for the values on the screen, never saved."""
    if not form.is_valid():
        return {
            "ok": False,
            "text": "Not tested: correct the fields marked below first (nothing was saved).",
        }
    try:
        text = adapter.test_connection(settings=form.merged_settings(), state={})
    except ProviderError as exc:
        return {
            "ok": False,
            "text": f"Connection failed ({exc.code}): {exc.message.rstrip('.')}. "
            "Nothing was saved.",
        }
    return {
        "ok": True,
        "text": f"Connection works with the values on this page: {text} "
        "Nothing was saved yet: press Save to keep them.",
    }


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 {"db": "ok", "broker": "ok"}; 503 naming the part that failed."""
    result: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        result["db"] = "ok"
    except Exception as exc:  # the point is to report, whatever broke
        result["db"] = f"error: {type(exc).__name__}"
    result["broker"] = _broker_health()
    ok = all(v == "ok" for v in result.values())
    return JsonResponse(result, status=200 if ok else 503)


def _broker_health() -> str:
    from portal.celery import app

    try:
        conn = app.connection_for_write()
        try:
            conn.ensure_connection(max_retries=1, timeout=2)
        finally:
            conn.release()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
