"""Merchant pages about verifications: the list, one request (live status, received data,
cancel, a new link), and "New verification" with each provider's own fields.

Views parse, ask kyc.permissions (through @require), call a service, render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from kyc import permissions, registry, reveal, selectors, services
from kyc.errors import InvalidInput
from kyc.models import IdentityField, KYCRecord, Merchant, ProviderAccount, TransferRequest
from kyc.permissions import Action, current_merchant, require
from kyc.qr import render_svg
from kyc.status import Status, is_terminal

PER_PAGE = 50
POLL_SECONDS = 3

# --- the list ---------------------------------------------------------------------------


def _status_choices() -> list[tuple[str, Any]]:
    outcomes = [(f"outcome:{k}", v) for k, v in selectors.OUTCOME_LABELS.items()]
    return [
        ("", "Any status"),
        ("Outcome", outcomes),
        ("Exact status", list(Status.choices)),
    ]


class ListFilterForm(forms.Form):
    """A list's filters (from the query string): part of the reference, the provider, and
    what a subclass adds in `narrow`. Filters that are not valid filter nothing."""

    q = forms.CharField(
        required=False, label="Reference", max_length=200, help_text="Part of your reference."
    )
    provider = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [("", "Any provider"), *self.providers()]  # type: ignore[attr-defined]

    def providers(self) -> list[tuple[str, str]]:
        return list(registry.choices())

    def filter(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        if not self.is_valid():
            return qs
        data = self.cleaned_data
        if data["q"]:
            qs = qs.filter(reference__icontains=data["q"].strip())
        if data["provider"]:
            qs = qs.filter(provider=data["provider"])
        return self.narrow(qs, data)

    def narrow(self, qs: QuerySet[Any], data: dict[str, Any]) -> QuerySet[Any]:
        return qs


class TransferFilterForm(ListFilterForm):
    field_order = ("q", "status", "provider", "created_from", "created_to")
    status = forms.ChoiceField(required=False, choices=_status_choices)
    created_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def providers(self) -> list[tuple[str, str]]:
        return [(n, label) for n, label in registry.choices() if registry.get(n).starts_transfers]

    def narrow(self, qs: QuerySet[Any], data: dict[str, Any]) -> QuerySet[Any]:
        status = data["status"]
        if status.startswith("outcome:"):
            wanted = status.removeprefix("outcome:")
            qs = qs.filter(
                status__in=[s for s, o in selectors.OUTCOME_OF_STATUS.items() if o == wanted]
            )
        elif status:
            qs = qs.filter(status=status)
        if data["created_from"]:
            qs = qs.filter(created_at__gte=_day_start(data["created_from"]))
        if data["created_to"]:
            qs = qs.filter(created_at__lt=_day_start(data["created_to"]) + dt.timedelta(days=1))
        return qs


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def page_links(request: HttpRequest, page: Any) -> dict[str, str]:
    """Links to the previous and next page that keep the filters."""
    params = {k: v for k, v in request.GET.items() if k != "page" and v}

    def link(n: int) -> str:
        return "?" + urlencode({**params, "page": n})

    return {
        "previous": link(page.previous_page_number()) if page.has_previous() else "",
        "next": link(page.next_page_number()) if page.has_next() else "",
        "first": link(1) if page.number > 1 else "",
        "last": link(page.paginator.num_pages) if page.has_next() else "",
    }


@login_required
@require(Action.VIEW)
@require_GET
def transfer_list(request: HttpRequest) -> HttpResponse:
    rows = TransferRequest.objects.only(
        "id", "reference", "provider", "status", "created_at", "completed_at", "record_id"
    )
    return list_page(request, "portal/transfer_list.html", TransferFilterForm, rows)


def list_page(
    request: HttpRequest,
    template: str,
    form_class: type[ListFilterForm],
    rows: QuerySet[Any],
) -> HttpResponse:
    """One page of the merchant's `rows`, newest first, filtered by `form_class` (from the
    query string), with links that keep the filters."""
    merchant = current_merchant(request)
    form = form_class(request.GET or None)
    qs = form.filter(rows.filter(merchant=merchant).order_by("-created_at", "-pk"))
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        template,
        {"form": form, "page": page, "links": page_links(request, page), "merchant": merchant},
    )


# --- one request ------------------------------------------------------------------------


def _transfer(request: HttpRequest, pk: Any) -> TransferRequest:
    return get_object_or_404(
        TransferRequest.objects.select_related("record"), pk=pk, merchant=current_merchant(request)
    )


def _received(request: HttpRequest, transfer: TransferRequest) -> dict[str, Any]:
    """The data this request brought in: masked, plus what this session revealed."""
    fields = IdentityField.objects.filter(transfer=transfer)
    return received_context(
        request, merchant=transfer.merchant, record=transfer.record, fields=fields
    )


def received_context(
    request: HttpRequest,
    *,
    merchant: Merchant,
    record: KYCRecord | None,
    fields: QuerySet[IdentityField],
) -> dict[str, Any]:
    """Received values (`fields`) as a page shows them: masked, plus what this session
    revealed of the record (for those whose role may reveal), and the reveal form's
    purposes. The values themselves are not loaded here (so not decrypted)."""
    rows = list(
        fields.order_by("key").only(
            "pk", "key", "provider", "status", "received_at", "erased_at", "record_id"
        )
    )
    can_reveal = permissions.can(request.user, merchant, Action.REVEAL_PII)
    values: dict[int, Any] = {}
    grant = None
    if rows and can_reveal and record is not None:
        values, grant = reveal.revealed_values(
            record=record, session_key=request.session.session_key
        )
    return {
        "fields": [
            {
                "field": f,
                "label": field_label(f.key),
                "revealed": f.pk in values,
                "value": values.get(f.pk),
            }
            for f in rows
        ],
        "may_reveal": can_reveal,
        "can_reveal": can_reveal and any(f.erased_at is None and f.pk not in values for f in rows),
        "grant": grant,
        "purposes": reveal.PURPOSES,
    }


def field_label(key: str) -> str:
    """'SH_Passport_DOB' -> 'Passport · Date of birth'; other keys as they are."""
    from providers.corepass.forms import DOCUMENT_LABELS, FIELD_LABELS

    parts = key.split("_", 2)
    if len(parts) == 3 and parts[0] == "SH" and parts[1] in DOCUMENT_LABELS:
        return f"{DOCUMENT_LABELS[parts[1]]} · {FIELD_LABELS.get(parts[2], parts[2])}"
    if len(parts) == 3 and parts[0] == "SH" and parts[1] == "ANY":
        return f"Any document · {FIELD_LABELS.get(parts[2], parts[2])}"
    if key == "SH_EMAIL":
        return "Email address"
    if key == "SH_PHONE":
        return "Phone number"
    return key.replace("_", " ").capitalize() if key.islower() else key


def _status_context(transfer: TransferRequest) -> dict[str, Any]:
    return {
        "transfer": transfer,
        "events": transfer.events.all(),
        "terminal": is_terminal(transfer.status),
        "poll_seconds": POLL_SECONDS,
    }


@login_required
@require(Action.VIEW)
@require_GET
def transfer_detail(request: HttpRequest, pk: str) -> HttpResponse:
    transfer = _transfer(request, pk)
    page_url = services.transfer_page_url(transfer)
    return render(
        request,
        "portal/transfer_detail.html",
        {
            **_status_context(transfer),
            **_received(request, transfer),
            "page_url": page_url,
            "page_qr": render_svg(page_url),
            "can_cancel": not is_terminal(transfer.status),
            "asked": [(i, field_label(i)) for i in transfer.items or []],
            "record": transfer.record,
        },
    )


@login_required
@require(Action.VIEW)
@require_GET
def transfer_status(request: HttpRequest, pk: str) -> HttpResponse:
    """The detail page's live part, polled by htmx; 286 once the request has ended."""
    transfer = _transfer(request, pk)
    context = _status_context(transfer)
    response = render(request, "portal/_transfer_status.html", context)
    if context["terminal"]:
        response = HttpResponseStopPolling(response.content)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require(Action.START_VERIFICATION)
@require_http_methods(["GET", "POST"])
def transfer_cancel(request: HttpRequest, pk: str) -> HttpResponse:
    """GET: the confirmation step. POST: cancel (audited; the provider is told)."""
    transfer = _transfer(request, pk)
    if request.method == "GET":
        return render(request, "portal/transfer_cancel.html", {"transfer": transfer})
    try:
        changed = services.transfer_cancel(transfer=transfer, actor=request.user)
    except services.TransferNotCancellable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            "Verification cancelled; the customer's link now says so."
            if changed
            else "This verification was already cancelled.",
        )
    return redirect("transfer_detail", pk=transfer.pk)


@login_required
@require(Action.START_VERIFICATION)
@require_POST
def transfer_again(request: HttpRequest, pk: str) -> HttpResponse:
    """A new request with the same provider, reference, customer and items: a fresh link."""
    old = _transfer(request, pk)
    try:
        new = services.transfer_create(
            merchant=old.merchant,
            provider=old.provider,
            reference=old.reference,
            subject=old.subject,
            items=list(old.items or []),
            redirect_url=old.redirect_url,
            actor=request.user,
            source="staff",
        )
    except InvalidInput as exc:
        messages.error(request, f"No new link: {exc.message}")
        return redirect("transfer_detail", pk=old.pk)
    messages.success(request, "New link created with the same details. Send this one.")
    return redirect("transfer_detail", pk=new.pk)


@login_required
@require(Action.REVEAL_PII)
@require_POST
def customer_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Reveal chosen values of one customer to this session for a few minutes (audited
    once, with the purpose), then back to the page that asked."""
    merchant = current_merchant(request)
    record = get_object_or_404(merchant.records.all(), pk=pk)
    back = _back(request, reverse("customer_detail", args=[record.pk]))
    if not request.session.session_key:
        request.session.save()
    try:
        ids = [int(i) for i in request.POST.getlist("fields") if i.isdigit()]
        grant = reveal.record_reveal(
            record=record,
            actor=request.user,
            session_key=request.session.session_key or "",
            field_ids=ids,
            purpose=request.POST.get("purpose", ""),
            note=request.POST.get("note", ""),
        )
    except reveal.RevealRefused as exc:
        messages.error(request, str(exc))
    else:
        minutes = max(1, round(grant.seconds_left / 60))
        messages.success(
            request,
            f"{len(grant.field_ids)} value(s) shown to you for {minutes} minutes; "
            "this was written to the audit log.",
        )
    return redirect(back)


def _back(request: HttpRequest, default: str) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# --- new verification -------------------------------------------------------------------


def _provider_fields(name: str) -> tuple[str, str]:
    return f"subject_{name}", f"items_{name}"


class NewTransferForm(forms.Form):
    """Provider, reference, and per provider: its subject id (CoreID for CorePass) and
    an items picker from its catalogue. Fields of other providers are ignored."""

    provider = forms.ChoiceField(choices=[])
    reference = forms.CharField(
        max_length=200, help_text="Your reference for this customer, e.g. your customer id."
    )

    def __init__(
        self, *args: Any, accounts: list[ProviderAccount], sandbox: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.providers: list[dict[str, Any]] = []
        choices = []
        for account in accounts:
            adapter = registry.get(account.provider)
            form_class = adapter.form_class
            subject_name, items_name = _provider_fields(account.provider)
            choices.append((account.provider, adapter.label))
            entry: dict[str, Any] = {
                "name": account.provider,
                "label": adapter.label,
                "subject": None,
                "items": None,
                "groups": [],
                "note": form_class.items_note,
            }
            if form_class.start_subject:
                label, help_text = form_class.start_subject
                if sandbox and account.provider == "corepass":
                    from providers.corepass.coreid import sample_coreid

                    help_text += f" Sandbox: {sample_coreid()} is a customer it knows."
                self.fields[subject_name] = forms.CharField(
                    required=False, label=label, help_text=help_text, max_length=200
                )
                entry["subject"] = subject_name
            if form_class.item_catalogue:
                flat = [(v, lbl) for _, items, _ in form_class.item_catalogue for v, lbl in items]
                self.fields[items_name] = forms.MultipleChoiceField(
                    required=False,
                    choices=flat,
                    initial=form_class.initial_items(account.settings or {}),
                    widget=forms.CheckboxSelectMultiple,
                    label="What to ask for",
                )
                entry["items"] = items_name
                entry["groups"] = [
                    {"label": g, "values": [v for v, _ in items], "open": is_open}
                    for g, items, is_open in form_class.item_catalogue
                ]
            self.providers.append(entry)
        self.fields["provider"].choices = choices  # type: ignore[attr-defined]
        if len(choices) == 1:
            self.fields["provider"].initial = choices[0][0]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = data.get("provider")
        for entry in self.providers:
            items = entry["items"]
            if (
                entry["name"] == chosen
                and items
                and not data.get(items)
                and items not in self.errors
            ):
                # Nothing ticked (or sent under another name) is not "the defaults": the
                # request would ask for what nobody picked.
                self.add_error(items, "Tick at least one item to ask for.")
            subject = entry["subject"]
            if not subject:
                continue
            value = (data.get(subject) or "").strip()
            label = self.fields[subject].label
            if entry["name"] == chosen and not value:
                self.add_error(subject, f"Enter the customer's {label}: {entry['label']} needs it.")
            elif entry["name"] != chosen and value:
                # Hidden by the page's script; without it every field shows.
                chosen_label = dict(self.fields["provider"].choices).get(chosen, chosen)  # type: ignore[attr-defined]
                self.add_error(
                    subject,
                    f"Only {entry['label']} asks for a {label}; leave it blank for {chosen_label}.",
                )
        return data

    def start_values(self) -> tuple[str, list[str]]:
        """(subject, items) for the chosen provider."""
        subject_name, items_name = _provider_fields(self.cleaned_data["provider"])
        return (
            (self.cleaned_data.get(subject_name) or "").strip(),
            list(self.cleaned_data.get(items_name) or []),
        )

    def boxes(self) -> dict[str, Any]:
        """Checkbox widgets by value, per items field (the template groups them)."""
        return {
            e["items"]: {b.data["value"]: b for b in self[e["items"]]}
            for e in self.providers
            if e["items"]
        }


@login_required
@require(Action.START_VERIFICATION)
@require_http_methods(["GET", "POST"])
def transfer_new(request: HttpRequest) -> HttpResponse:
    merchant = current_merchant(request)
    accounts = [
        a
        for a in ProviderAccount.objects.filter(merchant=merchant, enabled=True).order_by(
            "provider"
        )
        if registry.find(a.provider) is not None and registry.get(a.provider).starts_transfers
    ]
    form = NewTransferForm(request.POST or None, accounts=accounts, sandbox=settings.SANDBOX)
    if request.method == "POST" and form.is_valid():
        provider = form.cleaned_data["provider"]
        subject, items = form.start_values()
        subject_name, items_name = _provider_fields(provider)
        try:
            transfer = services.transfer_create(
                merchant=merchant,
                provider=provider,
                reference=form.cleaned_data["reference"],
                subject=subject,
                items=items,
                actor=request.user,
                source="staff",
            )
        except InvalidInput as exc:
            target = {"subject": subject_name, "items": items_name}.get(exc.field or "", exc.field)
            form.add_error(target if target in form.fields else None, exc.message)
        else:
            return redirect("transfer_detail", pk=transfer.pk)
    groups: list[dict[str, Any]] = []
    if form.fields["provider"].choices:  # type: ignore[attr-defined]
        boxes = form.boxes()
        for entry in form.providers:
            if entry["items"]:
                by_value = boxes[entry["items"]]
                entry["rendered_groups"] = [
                    {**g, "boxes": [by_value[v] for v in g["values"] if v in by_value]}
                    for g in entry["groups"]
                ]
            groups.append(entry)
    return render(
        request,
        "portal/transfer_new.html",
        {"form": form, "providers": groups, "merchant": merchant},
    )


def transfers_of_record(record_id: int) -> QuerySet[TransferRequest]:
    return (
        TransferRequest.objects.filter(record_id=record_id)
        .only("id", "reference", "provider", "status", "created_at")
        .order_by("-created_at")
    )
