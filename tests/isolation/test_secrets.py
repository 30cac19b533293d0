"""Planted provider secrets and PII never reach logs, error pages, admin history or
exception reports, while every page, admin view and API route that touches them is used."""

from __future__ import annotations

import logging
import sys
from typing import Any
from unittest import mock

import pytest
from django.contrib import admin
from django.core.signals import got_request_exception
from django.urls import reverse
from django.views.debug import ExceptionReporter

from kyc import registry
from kyc.models import ProviderAccount
from tests.contract.settings_forms import form_data
from tests.isolation.builder import planted

pytestmark = pytest.mark.django_db


def everything_planted(world: Any) -> list[str]:
    a, _ = world
    values = []
    for model, obj in a.objects.items():
        from kyc.crypto import encrypted_fields

        for field in encrypted_fields(model):
            values.append(planted(a.builder.tag, model, field))
    return values


def assert_clean(text: str, secrets: list[str], where: str) -> None:
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{where} shows {leaked}"


def test_it_keeps_provider_secrets_out_of_pages_logs_and_admin_history(
    staff_client, merchant, admin_client, caplog, promise
) -> None:
    caplog.set_level(logging.DEBUG)
    tried = 0
    all_secrets: list[str] = []
    for provider, _ in registry.choices():
        data, secrets = form_data(provider)
        all_secrets += secrets
        url = reverse("provider_settings", args=[provider])
        saved = staff_client.post(url, data)
        # a form the generic filler cannot satisfy still must not echo secrets
        assert_clean(saved.content.decode(), secrets, f"{provider} settings POST")
        assert_clean(staff_client.get(url).content.decode(), secrets, f"{provider} settings page")
        tested = staff_client.post(url, {"test": "1"}, follow=True)
        assert_clean(tested.content.decode(), secrets, f"{provider} test connection")
        account = ProviderAccount.objects.get(merchant=merchant, provider=provider)
        if secrets and saved.status_code == 302:
            assert account.settings[next(iter(registry.get(provider).form_class.secret_fields))]
        for view in ("change", "history"):
            r = admin_client.get(reverse(f"admin:kyc_provideraccount_{view}", args=[account.pk]))
            assert r.status_code == 200
            assert_clean(r.content.decode(), secrets, f"admin {view} of {provider}")
        # admin edit of the account: history keeps field names only
        admin_client.post(
            reverse("admin:kyc_provideraccount_change", args=[account.pk]), {"enabled": ""}
        )
        tried += 1
    for path in ("/admin/kyc/auditentry/", "/admin/admin/logentry/", "/"):
        r = admin_client.get(path)
        assert_clean(r.content.decode(), all_secrets, path)
    from kyc.models import AuditEntry

    for entry in AuditEntry.objects.all():
        assert_clean(repr(entry.detail), all_secrets, f"audit entry {entry.action}")
        assert_clean(
            admin_client.get(f"/admin/kyc/auditentry/{entry.pk}/change/").content.decode(),
            all_secrets,
            "audit page",
        )
    assert all_secrets, "no provider declares secret fields?"
    assert_clean(caplog.text, all_secrets, "the logs")
    promise("secrets_in_logs", len(all_secrets), "planted secrets")
    promise("secrets_in_logs", tried, "provider settings pages")


def test_it_keeps_pii_out_of_logs_admin_pages_and_api_logs(world, client, caplog, promise) -> None:
    caplog.set_level(logging.DEBUG)
    a, _ = world
    planted_values = everything_planted(world)
    client.force_login(a.staff)
    pages = 0
    for model, model_admin in admin.site._registry.items():
        obj = a.objects.get(model)
        if obj is None:
            continue
        base = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        for url in (
            reverse(f"{base}_changelist"),
            reverse(f"{base}_change", args=[obj.pk]),
            reverse(f"{base}_history", args=[obj.pk]),
        ):
            r = client.get(url)
            assert r.status_code in (200, 403), url
            assert_clean(r.content.decode(), planted_values, url)
            pages += 1
    # revealing shows the value on purpose; the logs still must not have it
    field = a.objects[__import__("kyc.models", fromlist=["IdentityField"]).IdentityField]
    url = reverse("admin:kyc_identityfield_reveal", args=[field.pk])
    r = client.post(url, {"fields": [field.pk], "purpose": "review"}, follow=True)
    assert r.status_code == 200 and field.value in r.content.decode()
    for url in ("/api/v1/records/", "/api/v1/transfers/", "/api/v1/certificates/"):
        assert a.api.get(url).status_code == 200
    transfer = a.objects[__import__("kyc.models", fromlist=["TransferRequest"]).TransferRequest]
    page = client.get(f"/t/{transfer.page_token}/").content.decode()
    pages += 1
    secret_bits = [
        v for v in planted_values if "provider_secrets" in v or "pepper" in v or "body" in v
    ]
    assert_clean(page, secret_bits, "the customer page")
    assert_clean(caplog.text, planted_values, "the logs")
    promise("secrets_in_logs", len(planted_values), "planted PII values")
    promise("secrets_in_logs", pages, "admin and customer pages")


def test_it_keeps_secrets_out_of_error_pages_and_exception_reports(
    staff_client, caplog, settings
) -> None:
    caplog.set_level(logging.DEBUG)
    data, secrets = form_data("blockpass")
    reports: list[str] = []

    def capture(sender: Any, request: Any, **kwargs: Any) -> None:
        reporter = ExceptionReporter(request, *sys.exc_info())
        reports.append(reporter.get_traceback_text())
        reports.append(reporter.get_traceback_html())

    got_request_exception.connect(capture)
    staff_client.raise_request_exception = False
    try:
        with mock.patch(
            "kyc.services.ProviderAccount.save", side_effect=RuntimeError("database hiccup")
        ):
            r = staff_client.post(reverse("provider_settings", args=["blockpass"]), data)
    finally:
        got_request_exception.disconnect(capture)
    assert r.status_code == 500
    assert reports, "the exception report was not produced"
    for report in reports:
        assert "database hiccup" in report  # the report is real...
        assert_clean(
            report,
            secrets + settings.FIELD_ENCRYPTION_KEYS + [settings.SECRET_KEY],
            "the exception report",
        )
    assert_clean(r.content.decode(), secrets, "the 500 page")
    assert_clean(caplog.text, secrets, "the logs")


def test_it_redacts_secret_looking_text_in_logged_tracebacks() -> None:
    from portal.logfilter import RedactSecretsFilter

    try:
        raise ValueError("provider said: client_secret=hunter2-zq and token: abc.def")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    RedactSecretsFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "hunter2-zq" not in text and "abc.def" not in text
    assert "ValueError" in text
