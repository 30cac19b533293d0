"""The API with a signed-in member's session (browsable API, the docs' Try it out): the
member's merchant only, CSRF on writes, and what their role allows."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kyc import services
from kyc.contract import FieldValue
from kyc.models import AuditEntry, IdentityField, Membership, TransferRequest
from kyc.status import Status
from tests import factories
from tests.api.conftest import pending_transfer, start_body

pytestmark = pytest.mark.django_db


def member(merchant: Any, role: str, *, reveal: bool = False) -> Client:
    c = Client(enforce_csrf_checks=True)
    user = factories.staff_user(merchant, role=role, reveal=reveal)
    c.force_login(user)
    c.user = user  # type: ignore[attr-defined]
    return c


def csrf(c: Client) -> str:
    """The token a browser has: the cookie set by a page it opened."""
    c.get("/api/v1/transfers/", HTTP_ACCEPT="text/html")
    return str(c.cookies["csrftoken"].value)


def test_it_shows_the_browsable_api_to_a_signed_in_member(
    merchant: Any, other_merchant: Any
) -> None:
    mine = pending_transfer(merchant, reference="mine")
    pending_transfer(other_merchant, reference="theirs")
    c = member(merchant, Membership.Role.VIEWER)
    page = c.get("/api/v1/transfers/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and "text/html" in page["Content-Type"]
    assert "mine" in page.content.decode() and "theirs" not in page.content.decode()
    rows = c.get("/api/v1/transfers/").json()["results"]
    assert [r["id"] for r in rows] == [str(mine.pk)]
    # control: signed out, the same request is refused
    assert Client().get("/api/v1/transfers/").status_code == 401


def test_it_needs_the_csrf_token_to_write_with_a_session(merchant: Any) -> None:
    transfer = pending_transfer(merchant)
    c = member(merchant, Membership.Role.OWNER)
    url = f"/api/v1/transfers/{transfer.pk}/cancel/"
    refused = c.post(url)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    transfer.refresh_from_db()
    assert transfer.status == Status.PENDING
    ok = c.post(url, HTTP_X_CSRFTOKEN=csrf(c))
    assert ok.status_code == 200 and ok.json()["status"] == "cancelled"
    entry = AuditEntry.objects.get(action="transfer.cancelled")
    assert entry.actor == c.user  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Membership.Role.OWNER, True),
        (Membership.Role.ADMIN, True),
        (Membership.Role.COMPLIANCE, False),
        (Membership.Role.VIEWER, False),
    ],
)
def test_it_lets_a_session_write_only_where_the_role_allows(
    merchant: Any, role: str, allowed: bool
) -> None:
    transfer = pending_transfer(merchant)
    c = member(merchant, role)
    token = csrf(c)
    assert c.get(f"/api/v1/transfers/{transfer.pk}/").status_code == 200  # every role reads
    r = c.post(f"/api/v1/transfers/{transfer.pk}/cancel/", HTTP_X_CSRFTOKEN=token)
    assert r.status_code == (200 if allowed else 403), r.json()
    if not allowed:
        assert r.json()["code"] == "permission_denied" and "Owner" in r.json()["detail"]
    transfer.refresh_from_db()
    assert (transfer.status == Status.CANCELLED) is allowed


def test_it_starts_a_verification_with_a_session_as_the_user(merchant: Any, connector: Any) -> None:
    c = member(merchant, Membership.Role.ADMIN)
    r = c.post(
        "/api/v1/transfers/",
        start_body(),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf(c),
    )
    assert r.status_code == 201, r.json()
    assert TransferRequest.objects.get(pk=r.json()["id"]).created_by == c.user  # type: ignore[attr-defined]


def test_it_shows_values_to_a_session_only_with_the_reveal_permission(merchant: Any) -> None:
    transfer = pending_transfer(merchant)
    services.identity_fields_store(
        record=transfer.record,
        provider="corepass",
        fields=[FieldValue(key="SH_EMAIL", value="alex@example.com")],
        transfer=transfer,
    )
    assert IdentityField.objects.count() == 1
    url = f"/api/v1/transfers/{transfer.pk}/"
    masked = member(merchant, Membership.Role.VIEWER, reveal=True).get(url).json()["data"]
    assert masked == [{**masked[0], "value": None, "masked": True}]
    assert not AuditEntry.objects.filter(action="pii.api_read").exists()
    reviewer = member(merchant, Membership.Role.COMPLIANCE, reveal=True)
    shown = reviewer.get(url).json()["data"]
    assert shown[0]["value"] == "alex@example.com" and shown[0]["masked"] is False
    audit = AuditEntry.objects.get(action="pii.api_read")
    assert audit.actor == reviewer.user  # type: ignore[attr-defined]
    assert "alex@example.com" not in str(audit.detail)
    # the role without the permission: masked
    no_perm = member(merchant, Membership.Role.COMPLIANCE, reveal=False).get(url).json()["data"]
    assert no_perm[0]["value"] is None


def test_it_refuses_a_session_of_a_user_with_no_merchant(db: Any) -> None:
    c = Client()
    c.force_login(factories.UserFactory(is_staff=True))
    assert c.get("/api/v1/transfers/").status_code == 401


def test_it_refuses_an_unverified_session_when_2fa_is_required(
    merchant: Any, settings: Any
) -> None:
    settings.STAFF_REQUIRE_2FA = True
    c = member(merchant, Membership.Role.OWNER)
    assert c.get("/api/v1/transfers/").status_code == 401
    settings.STAFF_REQUIRE_2FA = False
    assert c.get("/api/v1/transfers/").status_code == 200  # control


def test_it_maps_each_scope_to_the_role_action_a_session_needs(merchant: Any) -> None:
    from types import SimpleNamespace

    from kyc.permissions import Action
    from portal.api.auth import MemberSession
    from portal.api.webhooks import WebhookEndpointViewSet

    viewer = MemberSession(factories.staff_user(merchant, role=Membership.Role.VIEWER), merchant)
    assert viewer.action_for("read") is Action.VIEW
    assert viewer.action_for("pii") is Action.REVEAL_PII
    assert viewer.action_for("write") is Action.START_VERIFICATION
    webhooks = SimpleNamespace(session_write_action=Action.MANAGE_API_KEYS)
    assert viewer.action_for("write", webhooks) is Action.MANAGE_API_KEYS
    assert viewer.action_for("read", webhooks) is Action.VIEW
    assert WebhookEndpointViewSet.session_write_action is Action.MANAGE_API_KEYS
    assert viewer.has_scope("read") and not viewer.has_scope("write")
    assert viewer.missing_scope_message("write") == (
        "Your role may not start verifications; allowed: Owner, Administrator."
    )


def test_it_records_a_session_cancel_as_the_staff_members(merchant: Any) -> None:
    transfer = pending_transfer(merchant)
    c = member(merchant, Membership.Role.OWNER)
    c.post(f"/api/v1/transfers/{transfer.pk}/cancel/", HTTP_X_CSRFTOKEN=csrf(c))
    last = transfer.events.order_by("-id").first()
    assert last is not None and last.status == "cancelled" and last.source == "staff"


def test_it_checks_a_session_against_the_views_own_write_action(merchant: Any) -> None:
    """A view may name the action its writes need: the check and the 403 text use it."""
    from types import SimpleNamespace

    from rest_framework.exceptions import PermissionDenied

    from kyc.permissions import Action
    from portal.api.auth import HasKeyScope, MemberSession

    review_view = SimpleNamespace(session_write_action=Action.REVIEW)
    compliance = MemberSession(
        factories.staff_user(merchant, role=Membership.Role.COMPLIANCE), merchant
    )
    viewer = MemberSession(factories.staff_user(merchant, role=Membership.Role.VIEWER), merchant)
    check = HasKeyScope().has_permission
    assert check(SimpleNamespace(auth=compliance, method="POST"), review_view) is True
    with pytest.raises(PermissionDenied) as refused:
        check(SimpleNamespace(auth=compliance, method="POST"), None)  # START_VERIFICATION
    assert "start verifications" in str(refused.value.detail)
    with pytest.raises(PermissionDenied) as refused:
        check(SimpleNamespace(auth=viewer, method="POST"), review_view)
    assert str(refused.value.detail) == (
        "Your role may not review verifications; allowed: Owner, Compliance reviewer."
    )
    assert check(SimpleNamespace(auth=viewer, method="GET"), review_view) is True


def test_it_throttles_a_session_per_user(merchant: Any, settings: Any) -> None:
    settings.API_THROTTLE_RATE = "2/min"
    first, second = (
        member(merchant, Membership.Role.VIEWER),
        member(merchant, Membership.Role.VIEWER),
    )
    answers = [first.get("/api/v1/transfers/").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert second.get("/api/v1/transfers/").status_code == 200  # another user: own count
