"""Links record <-> requests <-> events <-> deliveries lead to filtered lists that work."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kyc.models import Membership
from tests.admin_workspace.conftest import Desk, member

pytestmark = pytest.mark.django_db


def test_it_links_records_requests_events_and_deliveries(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.VIEWER)
    pages = {
        "requests of the record": reverse("admin:kyc_transferrequest_changelist")
        + f"?record__id__exact={desk.old.pk}",
        "deliveries of the record": reverse("admin:kyc_inboundevent_changelist")
        + f"?transfer__record__id__exact={desk.old.pk}",
        "deliveries of the request": reverse("admin:kyc_inboundevent_changelist")
        + f"?transfer__id__exact={desk.transfer.pk}",
        "events of the delivery": reverse("admin:kyc_transferevent_changelist")
        + f"?inbound__id__exact={desk.delivery.pk}",
    }
    for what, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, what
        assert response.context["cl"].result_count == 1, what
    request_page = client.get(
        reverse("admin:kyc_transferrequest_change", args=[desk.transfer.pk])
    ).content.decode()
    assert pages["deliveries of the request"].replace("&", "&amp;") in request_page or (
        pages["deliveries of the request"] in request_page
    )
    assert reverse("admin:kyc_kycrecord_review", args=[desk.old.pk]) in request_page
    delivery_page = client.get(
        reverse("admin:kyc_inboundevent_change", args=[desk.delivery.pk])
    ).content.decode()
    assert pages["events of the delivery"] in delivery_page
    assert reverse("admin:kyc_transferrequest_change", args=[desk.transfer.pk]) in delivery_page
    # the request list links on the reference, newest first
    listing = client.get(reverse("admin:kyc_transferrequest_changelist")).content.decode()
    assert listing.index("cust-new") < listing.index("cust-old")
    assert f'/admin/kyc/transferrequest/{desk.transfer.pk}/change/">cust-old</a>' in listing
