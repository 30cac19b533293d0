"""Reveal is deliberate: a GET shows the form only; a POST with a purpose reveals the chosen
values of the record at once, for 5 minutes, with one audit entry; then they hide again."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from kyc import reveal
from kyc.models import AuditEntry, Membership
from tests.admin_workspace.conftest import EMAIL, Desk, member

pytestmark = pytest.mark.django_db


def _reveals(desk: Desk) -> Any:
    return AuditEntry.objects.filter(action="pii.revealed", merchant=desk.merchant)


def test_it_shows_only_the_form_on_a_get(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    for url in (
        reverse("admin:kyc_identityfield_reveal", args=[desk.email.pk]),  # the old link
        reverse("admin:kyc_kycrecord_reveal", args=[desk.old.pk]),
    ):
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200 and 'id="reveal-form"' in html
        assert EMAIL not in html and "Ada Lovelace" not in html
        # the admin's breadcrumbs, back to the record's review page
        assert 'class="breadcrumbs"' in html and ">cust-old</a>" in html
        assert "Home</a>" in html
    assert not _reveals(desk).exists()


def test_it_needs_a_purpose(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    url = reverse("admin:kyc_kycrecord_reveal", args=[desk.old.pk])
    refused = client.post(url, {"fields": [desk.email.pk]})
    assert refused.status_code == 400 and "Choose why" in refused.content.decode()
    other = client.post(url, {"fields": [desk.email.pk], "purpose": "other", "note": " "})
    assert other.status_code == 400 and "Say why" in other.content.decode()
    assert not _reveals(desk).exists()
    review = client.get(reverse("admin:kyc_kycrecord_review", args=[desk.old.pk]))
    assert EMAIL not in review.content.decode()


def test_it_reveals_all_chosen_values_once_audited_then_hides_them(
    desk: Desk, monkeypatch: Any
) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    page = reverse("admin:kyc_kycrecord_review", args=[desk.old.pk])
    fields = list(desk.old.fields.values_list("pk", flat=True))
    response = client.post(
        reverse("admin:kyc_kycrecord_reveal", args=[desk.old.pk]),
        {"fields": fields, "purpose": "investigation", "note": "case 77"},
    )
    assert response.status_code == 302 and response["Location"] == page
    for _ in range(3):  # reloads reveal nothing new and write nothing new
        html = client.get(page).content.decode()
        assert EMAIL in html and "Ada Lovelace" in html and 'id="reveal-note"' in html
    entry = _reveals(desk).get()
    assert entry.actor == client.user and entry.object_id == str(desk.old.pk)
    assert entry.detail["fields"] == ["email", "fullName"]
    assert entry.detail["purpose"] == "investigation" and entry.detail["note"] == "case 77"
    assert EMAIL not in str(entry.detail) and "Lovelace" not in str(entry.detail)
    # another reviewer's session sees nothing revealed
    other = member(desk.merchant, Membership.Role.COMPLIANCE)
    assert EMAIL not in other.get(page).content.decode()
    # five minutes later the values are hidden again
    later = reveal.now() + reveal.REVEAL_SECONDS + 1
    monkeypatch.setattr(reveal, "now", lambda: later)
    html = client.get(page).content.decode()
    assert EMAIL not in html and "•••• hidden" in html
    assert _reveals(desk).count() == 1


def test_it_reveals_one_field_from_the_fields_link(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.OWNER)
    url = reverse("admin:kyc_identityfield_reveal", args=[desk.email.pk])
    form = client.get(url).content.decode()
    assert f'value="{desk.email.pk}" checked' in form  # this field is preselected
    response = client.post(url, {"fields": [desk.email.pk], "purpose": "review"}, follow=True)
    html = response.content.decode()
    assert EMAIL in html and "Ada Lovelace" not in html
    assert _reveals(desk).get().detail["fields"] == ["email"]


@pytest.mark.parametrize("role", [Membership.Role.ADMIN, Membership.Role.VIEWER])
def test_it_shows_no_reveal_controls_to_roles_that_cannot_reveal(desk: Desk, role: str) -> None:
    client = member(desk.merchant, role)
    html = client.get(reverse("admin:kyc_kycrecord_review", args=[desk.old.pk])).content.decode()
    assert "reveal" not in html.lower().replace("reveal-", "")  # no link, no button
    change = client.get(reverse("admin:kyc_kycrecord_change", args=[desk.old.pk])).content
    assert b"reveal" not in change.lower()
    url = reverse("admin:kyc_kycrecord_reveal", args=[desk.old.pk])
    assert client.post(url, {"fields": [desk.email.pk], "purpose": "review"}).status_code == 403
    assert not _reveals(desk).exists()
    # positive control: a compliance member without the permission sees no control either,
    # with it they do
    no_perm = member(desk.merchant, Membership.Role.COMPLIANCE, reveal=False)
    review = reverse("admin:kyc_kycrecord_review", args=[desk.old.pk])
    assert "Reveal values" not in no_perm.get(review).content.decode()
    assert (
        "Reveal values"
        in member(desk.merchant, Membership.Role.COMPLIANCE).get(review).content.decode()
    )
