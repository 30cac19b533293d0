"""Every PII reveal and every provider-account change leaves who, what and when, never the secret."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from kyc import registry
from kyc.models import AuditEntry, IdentityField, KYCRecord, ProviderAccount
from tests import factories
from tests.isolation.test_secrets import form_data

pytestmark = pytest.mark.django_db


def recent(entry: AuditEntry) -> bool:
    return timezone.now() - entry.at < dt.timedelta(minutes=1)


def test_it_audits_every_reveal_without_the_value(
    merchant, other_merchant, client, promise
) -> None:
    record = KYCRecord.objects.create(merchant=merchant, reference="alice")
    field = IdentityField.objects.create(
        record=record, provider="corepass", key="SH_EMAIL", value="alice-zq@example.com"
    )
    reviewer = factories.staff_user(merchant, reveal=True)
    url = reverse("admin:kyc_identityfield_reveal", args=[field.pk])
    client.force_login(reviewer)
    # A GET only shows the reveal form (no value, no audit entry); the POST with
    # a purpose reveals for 5 minutes with one entry, however often the page is reloaded.
    form = client.get(url)
    assert form.status_code == 200 and "alice-zq@example.com" not in form.content.decode()
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()
    r = client.post(url, {"fields": [field.pk], "purpose": "review"}, follow=True)
    assert r.status_code == 200 and "alice-zq@example.com" in r.content.decode()
    page = reverse("admin:kyc_kycrecord_review", args=[record.pk])
    for _ in range(3):
        assert "alice-zq@example.com" in client.get(page).content.decode()
    entries = AuditEntry.objects.filter(action="pii.revealed")
    assert entries.count() == 1
    for e in entries:
        assert e.actor == reviewer and e.merchant == merchant and recent(e)
        assert (e.object_type, e.object_id) == ("kyc.KYCRecord", str(record.pk))
        assert e.detail["record"] == "alice" and e.detail["fields"] == ["SH_EMAIL"]
        assert e.detail["purpose"] == "review"
        assert "alice-zq" not in str(e.detail) + str(e)

    # no permission, or another merchant's staff: nothing revealed, nothing pretended
    client.force_login(factories.staff_user(merchant, reveal=False))
    assert client.get(url).status_code == 403
    client.force_login(factories.staff_user(other_merchant, reveal=True))
    assert client.get(url).status_code == 404
    assert client.post(url, {"fields": [field.pk], "purpose": "review"}).status_code == 404
    assert AuditEntry.objects.filter(action="pii.revealed").count() == 1
    # staff see the audit trail of their own merchant
    client.force_login(reviewer)
    listing = client.get("/admin/kyc/auditentry/")
    assert (
        listing.context["cl"].result_count == AuditEntry.objects.filter(merchant=merchant).count()
    )
    promise("audit", 1, "reveals audited")


def test_it_audits_every_provider_account_change(
    staff_client, merchant, admin_client, promise, settings
) -> None:
    # the filler points every URL at 127.0.0.1:9: the outbound policy's test opt-in
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.1/32"]
    changes = 0
    for provider, _ in registry.choices():
        data, secrets = form_data(provider)
        url = reverse("provider_settings", args=[provider])
        before = AuditEntry.objects.count()
        r = staff_client.post(url, data)
        if r.status_code != 302:  # the generic filler could not satisfy this form
            pytest.fail(
                f"{provider} settings did not save: {r.context['form'].errors if r.context else r.status_code}"
            )
        entry = AuditEntry.objects.exclude(pk__in=[]).order_by("-at", "-pk").first()
        assert AuditEntry.objects.count() == before + 1
        assert entry.action == "provider_account.updated" and entry.actor == staff_client.user
        assert entry.merchant == merchant and recent(entry)
        assert set(registry.get(provider).form_class.secret_fields) <= set(
            entry.detail["changed_fields"]
        )
        for secret in secrets:
            assert secret not in str(entry.detail)
        changes += 1

        # saving again with secrets left blank changes nothing: no entry
        again = {k: v for k, v in data.items() if v not in secrets}
        staff_client.post(url, again)
        assert AuditEntry.objects.count() == before + 1
        account = ProviderAccount.objects.get(merchant=merchant, provider=provider)
        assert all(account.settings.get(n) for n in registry.get(provider).form_class.secret_fields)

        # switching it off is a change too, also when done in the admin
        admin_client.post(reverse("admin:kyc_provideraccount_change", args=[account.pk]), {})
        entry = AuditEntry.objects.order_by("-at", "-pk").first()
        assert AuditEntry.objects.count() == before + 2
        assert entry.detail["changed_fields"] == ["enabled"] and entry.detail["enabled"] is False
        assert entry.actor.is_superuser
        changes += 1
    promise("audit", changes, "account changes audited")
