"""Merchant pages for Sunbird issuance runs: start one, watch it (htmx-polled), retry it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from kyc.errors import InvalidInput
from kyc.permissions import Action, current_merchant, require
from providers.sunbird import services
from providers.sunbird.models import DEFAULT_CERT_NAME, IssuanceRun

SIGNATORIES_EXAMPLE = [
    {"name": "CEO Gujarat", "id": "CEO", "designation": "CEO", "image": "https://…/signature.jpg"}
]
NOTIFY_EXAMPLE = {
    "subject": "Course completion certificate",
    "regardsperson": "Chairperson",
    "regards": "Minister of Gujarat",
    "emailTemplateType": "defaultCertTemp",
}


def _keys(value: str) -> list[str]:
    return [k.strip() for k in value.replace("\n", ",").split(",") if k.strip()]


class IssuanceRunForm(forms.Form):
    root_org_id = forms.CharField(
        label="Root org id", help_text="An active root org (found with org search)."
    )
    course_id = forms.CharField(label="Course id")
    batch_id = forms.CharField(label="Batch id")
    certificate_name = forms.CharField(initial=DEFAULT_CERT_NAME, max_length=200)
    sign_keys = forms.CharField(
        label="Sign keys", help_text="Comma-separated enc-service key ids; each is reserved once."
    )
    enc_keys = forms.CharField(label="Enc keys", help_text="Comma-separated.")
    issuer_name = forms.CharField(max_length=300)
    issuer_url = forms.URLField(max_length=500)
    signatories = forms.JSONField(
        initial=SIGNATORIES_EXAMPLE, help_text="JSON list: name, id, designation, image."
    )
    html_template_url = forms.URLField(label="HTML template URL", max_length=1000)
    notify_template = forms.JSONField(label="Notification template", initial=NOTIFY_EXAMPLE)
    filters = forms.JSONField(
        initial={"status": "2"}, help_text='Learners to issue to; {"status": "2"} = completed.'
    )
    reissue = forms.BooleanField(
        required=False,
        label="Re-issue",
        help_text="Issue again to learners who already have this certificate (?reIssue=true).",
    )
    expected_count = forms.IntegerField(
        required=False,
        min_value=1,
        label="Learners expected",
        help_text="Optional; blank: done when the registry's count stops growing.",
    )

    def clean_signatories(self) -> Any:
        value = self.cleaned_data["signatories"]
        if not isinstance(value, list):
            raise forms.ValidationError('A JSON list, e.g. [{"name": …}].')
        return value

    def clean_notify_template(self) -> Any:
        value = self.cleaned_data["notify_template"]
        if not isinstance(value, dict):
            raise forms.ValidationError("A JSON object.")
        return value

    def clean_filters(self) -> Any:
        value = self.cleaned_data["filters"]
        if not isinstance(value, dict):
            raise forms.ValidationError("A JSON object.")
        return value


@login_required
@require(Action.VIEW)
@require_GET
def issuance_list(request: HttpRequest) -> HttpResponse:
    merchant = current_merchant(request)
    runs = IssuanceRun.objects.filter(merchant=merchant).order_by("-created_at")[:50]
    return render(request, "portal/sunbird/run_list.html", {"runs": runs, "merchant": merchant})


@login_required
@require(Action.START_ISSUANCE)
@require_http_methods(["GET", "POST"])
def issuance_new(request: HttpRequest) -> HttpResponse:
    merchant = current_merchant(request)
    form = IssuanceRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = services.run_create(
                merchant=merchant,
                root_org_id=data["root_org_id"],
                course_id=data["course_id"],
                batch_id=data["batch_id"],
                certificate_name=data["certificate_name"],
                sign_keys=_keys(data["sign_keys"]),
                enc_keys=_keys(data["enc_keys"]),
                issuer_name=data["issuer_name"],
                issuer_url=data["issuer_url"],
                signatories=data["signatories"],
                html_template_url=data["html_template_url"],
                notify_template=data["notify_template"],
                filters=data["filters"],
                reissue=data["reissue"],
                expected_count=data["expected_count"],
                created_by=request.user,
            )
        except InvalidInput as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Issuance run #{run.pk} started.")
            return redirect("issuance_detail", pk=run.pk)
    orgs = services.root_orgs_list(merchant=merchant) if request.method == "GET" else []
    return render(request, "portal/sunbird/run_new.html", {"form": form, "orgs": orgs})


def _run_for(request: HttpRequest, pk: int) -> IssuanceRun:
    return get_object_or_404(IssuanceRun, pk=pk, merchant=current_merchant(request))


@login_required
@require(Action.VIEW)
@require_GET
def issuance_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_for(request, pk)
    return render(request, "portal/sunbird/run_detail.html", {"run": run, "steps": run.steps.all()})


@login_required
@require(Action.VIEW)
@require_GET
def issuance_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The polled fragment; 286 once the run is done or failed, so htmx stops polling."""
    run = _run_for(request, pk)
    response = render(
        request, "portal/sunbird/_run_progress.html", {"run": run, "steps": run.steps.all()}
    )
    if run.is_terminal:
        return HttpResponseStopPolling(response.content)
    return response


@login_required
@require(Action.START_ISSUANCE)
@require_POST
def issuance_retry(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_for(request, pk)
    if run.status == IssuanceRun.Status.DONE:
        messages.info(request, "This run is finished; nothing to retry.")
    else:
        run = services.run_resume(run_id=run.pk, actor=request.user)
        messages.success(request, f"Run #{run.pk} resumes from “{run.current_step}”.")
    return redirect("issuance_detail", pk=run.pk)


@login_required
@require(Action.START_ISSUANCE)
@require_POST
def issuance_resubmit(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the issue call again although its outcome is unknown: a person's choice, audited."""
    run = _run_for(request, pk)
    try:
        run = services.run_issue_resubmit(run_id=run.pk, actor=request.user)
    except InvalidInput as exc:
        messages.error(request, exc.message)
    else:
        messages.warning(request, f"Run #{run.pk}: the issue call will be sent again.")
    return redirect("issuance_detail", pk=run.pk)
