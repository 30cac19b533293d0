"""Merchant pages: dashboard, API keys, provider settings, new verification; and /healthz."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kyc import permissions, registry, selectors, services
from kyc.models import ApiKey, ProviderAccount, TransferRequest
from kyc.permissions import Action, current_merchant, require
from providers.errors import InvalidInput, ProviderError


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
            "transfers": selectors.transfers_for_merchant(merchant).order_by("-created_at")[:20],
            "records": selectors.records_for_merchant(merchant).order_by("-created_at")[:20],
            "accounts": ProviderAccount.objects.filter(merchant=merchant).order_by("provider"),
        },
    )


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
@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk, merchant=current_merchant(request))
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
    if request.method == "POST" and "test" in request.POST and form.is_valid():
        # Test exactly what was submitted (stored secrets only while the address is
        # unchanged, see ProviderSettingsForm); nothing is saved, no stored state is used.
        try:
            text = adapter.test_connection(settings=form.merged_settings(), state={})
            messages.success(request, f"Connection works: {text}")
        except ProviderError as exc:
            messages.error(request, f"Connection failed ({exc.code}): {exc.message}")
        return redirect("provider_settings", provider=provider)
    if request.method == "POST" and form.is_valid() and enabled_form.is_valid():
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
            "state_lines": adapter.describe_state(state=account.state or {}),
        },
    )


class NewTransferForm(forms.Form):
    provider = forms.ChoiceField(choices=[])
    reference = forms.CharField(max_length=200, help_text="Your reference for this customer.")
    coreid = forms.CharField(
        required=False, label="CoreID", help_text="CorePass only: the customer's CoreID."
    )
    items = forms.CharField(
        required=False,
        help_text="Comma-separated items or facts; blank uses the provider's defaults.",
    )

    def __init__(self, *args: Any, providers: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = providers  # type: ignore[attr-defined]


@login_required
@require(Action.START_VERIFICATION)
@require_http_methods(["GET", "POST"])
def transfer_new(request: HttpRequest) -> HttpResponse:
    merchant = current_merchant(request)
    enabled = [
        (a.provider, a.get_provider_display())
        for a in ProviderAccount.objects.filter(merchant=merchant, enabled=True).order_by(
            "provider"
        )
        if registry.get(a.provider).starts_transfers
    ]
    form = NewTransferForm(request.POST or None, providers=enabled)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            transfer = services.transfer_create(
                merchant=merchant,
                provider=data["provider"],
                reference=data["reference"],
                subject=data["coreid"].strip(),
                items=[i.strip() for i in data["items"].split(",") if i.strip()],
                actor=request.user,
                source="staff",
            )
        except InvalidInput as exc:
            form.add_error(
                "coreid"
                if exc.field == "subject"
                else (exc.field if exc.field in form.fields else None),
                exc.message,
            )
        else:
            return redirect("transfer_detail", pk=transfer.pk)
    return render(request, "portal/transfer_new.html", {"form": form})


@login_required
@require(Action.VIEW)
@require_GET
def transfer_detail(request: HttpRequest, pk: str) -> HttpResponse:
    transfer = get_object_or_404(TransferRequest, pk=pk, merchant=current_merchant(request))
    return render(
        request,
        "portal/transfer_detail.html",
        {
            "transfer": transfer,
            "events": transfer.events.all(),
            "page_url": services.transfer_page_url(transfer),
        },
    )


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
