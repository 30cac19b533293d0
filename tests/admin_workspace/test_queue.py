"""The "Needs review" queue: oldest first across providers, age and SLA as text, assign to
me, the assignee filter, and the count on the admin index."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from kyc import selectors
from kyc.models import AuditEntry, KYCRecord, Membership, TransferRequest
from tests import factories
from tests.admin_workspace.conftest import Desk, member

pytestmark = pytest.mark.django_db

QUEUE = "admin:kyc_kycrecord_queue"


def _references(html: str) -> list[str]:
    return re.findall(r'<a href="/admin/kyc/kycrecord/\d+/review/">([^<]+)</a>', html)


def test_it_lists_what_waits_oldest_first_with_age_and_sla_in_words(desk: Desk) -> None:
    decided = factories.KYCRecordFactory(
        merchant=desk.merchant, reference="cust-done", review_status=KYCRecord.Review.APPROVED
    )
    theirs = factories.MerchantFactory()
    factories.KYCRecordFactory(
        merchant=theirs, reference="cust-theirs", review_status=KYCRecord.Review.IN_REVIEW
    )
    client = member(desk.merchant, Membership.Role.VIEWER)
    html = client.get(reverse(QUEUE)).content.decode()
    assert _references(html) == ["cust-old", "cust-new"]  # oldest first; decided and others' not
    assert decided.reference not in html and "cust-theirs" not in html
    # the SLA in words, not colour alone: 30 h at the 24 h default is overdue by 6 h
    assert re.search(r"Overdue by (6 h|5 h 59 min)<", html)
    assert re.search(r"On time: 2[23] h( \d+ min)? left<", html)
    assert "badge-bad" in html and "badge-ok" in html
    assert "2 waiting" in html


def test_it_uses_the_merchants_own_sla(desk: Desk) -> None:
    desk.merchant.review_sla_hours = 48
    desk.merchant.save()
    html = member(desk.merchant, Membership.Role.VIEWER).get(reverse(QUEUE)).content.decode()
    assert "Overdue" not in html
    assert re.search(r"On time: 1[78] h( \d+ min)? left<", html)  # 30 h of 48 h


def test_it_assigns_a_review_to_me_and_filters_by_assignee(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    url = reverse("admin:kyc_kycrecord_assign", args=[desk.new.pk])
    assert client.get(url).status_code == 302  # a GET changes nothing
    desk.new.refresh_from_db()
    assert desk.new.review_assignee is None
    response = client.post(url, {"next": "queue"})
    assert response.status_code == 302 and response["Location"] == reverse(QUEUE)
    desk.new.refresh_from_db()
    assert desk.new.review_assignee == client.user
    assert AuditEntry.objects.filter(
        action__contains="assign", object_id=str(desk.new.pk), actor=client.user
    ).exists()
    mine = client.get(reverse(QUEUE) + "?assignee=me").content.decode()
    assert _references(mine) == ["cust-new"]
    unassigned = client.get(reverse(QUEUE) + "?assignee=none").content.decode()
    assert _references(unassigned) == ["cust-old"]
    everyone = client.get(reverse(QUEUE)).content.decode()
    assert everyone.count("Assign to me") == 1  # only the one not already mine


def test_it_lets_only_reviewers_assign(desk: Desk) -> None:
    viewer = member(desk.merchant, Membership.Role.VIEWER)
    assert "Assign to me" not in viewer.get(reverse(QUEUE)).content.decode()
    url = reverse("admin:kyc_kycrecord_assign", args=[desk.new.pk])
    assert viewer.post(url).status_code == 403
    desk.new.refresh_from_db()
    assert desk.new.review_assignee is None
    outsider = member(factories.MerchantFactory(), Membership.Role.OWNER)
    assert outsider.post(url).status_code == 404


def test_it_counts_waiting_reviews_on_the_admin_index_and_for_the_dashboard(desk: Desk) -> None:
    html = member(desk.merchant, Membership.Role.VIEWER).get(reverse("admin:index")).content
    text = html.decode()
    assert re.search(r'id="reviews-waiting">2</strong> reviews waiting', text)
    assert "1 overdue" in text and reverse(QUEUE) in text
    count, oldest = selectors.reviews_waiting(desk.merchant)
    assert count == 2 and 29.9 < oldest.total_seconds() / 3600 < 30.1
    # positive control: once decided, it no longer counts
    KYCRecord.objects.filter(pk=desk.new.pk).update(review_status=KYCRecord.Review.APPROVED)
    TransferRequest.objects.filter(record=desk.new).update(status="completed")
    assert selectors.reviews_waiting(desk.merchant)[0] == 1


def test_it_needs_a_role_to_see_the_queue(desk: Desk, client: Any) -> None:
    client.force_login(factories.UserFactory(is_staff=True))  # staff of no merchant
    response = client.get(reverse(QUEUE))
    assert response.status_code == 403
