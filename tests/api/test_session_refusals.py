"""A member's session: refused by a route that declares the scope it needs, the 403 names the
action that scope needs, not the write action; the schema tells clients the session is a
cookie of the name the portal sets (each test kills a mutant `make mutate` found)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from django.conf import settings
from rest_framework.exceptions import PermissionDenied

from kyc.models import Membership
from portal.api.auth import SESSION_DESCRIPTION, HasKeyScope, MemberSession
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_names_revealing_personal_data_when_a_pii_route_refuses_a_session(
    merchant: Any,
) -> None:
    pii_view = SimpleNamespace(required_scope="pii")
    check = HasKeyScope().has_permission
    compliance = factories.staff_user(merchant, role=Membership.Role.COMPLIANCE, reveal=False)
    with pytest.raises(PermissionDenied) as refused:
        check(SimpleNamespace(auth=MemberSession(compliance, merchant), method="GET"), pii_view)
    assert str(refused.value.detail) == (
        "Your role may not reveal personal data; allowed: Owner, Compliance reviewer."
    )
    # control: the same role with the reveal permission passes the same route
    revealer = factories.staff_user(merchant, role=Membership.Role.COMPLIANCE, reveal=True)
    session = MemberSession(revealer, merchant)
    assert check(SimpleNamespace(auth=session, method="GET"), pii_view) is True


def test_it_describes_the_session_to_clients_as_the_portals_cookie(client: Any) -> None:
    r = client.get("/api/schema/")
    assert r.status_code == 200
    schemes = yaml.safe_load(r.content)["components"]["securitySchemes"]
    assert schemes["MemberSession"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": settings.SESSION_COOKIE_NAME,
        "description": SESSION_DESCRIPTION,
    }
    assert schemes["ApiKey"]["scheme"] == "bearer"  # control: the other way in, unchanged
