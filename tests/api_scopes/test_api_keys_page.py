"""The merchant's API-keys page: choose scopes (read + write by default, pii off with a
warning) and see each key's scopes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from kyc.models import ApiKey, Membership
from tests import factories


def signed_in(client: Any, name: str, role: str, *, reveal: bool) -> Any:
    """`client`, signed in as the only member (`role`) of a new merchant `name`."""
    merchant = factories.MerchantFactory(name=name)
    user = factories.UserFactory()
    if reveal:
        user.user_permissions.add(Permission.objects.get(codename="reveal_pii"))
    factories.MembershipFactory(user=user, merchant=merchant, role=role)
    client.force_login(user)
    client.merchant = merchant
    return client


@pytest.fixture
def owner(db: Any, client: Any) -> Any:
    return signed_in(client, "Keys Ltd", Membership.Role.OWNER, reveal=True)


def checkbox(html: str, value: str) -> str:
    match = re.search(rf'<input[^>]*name="scopes"[^>]*value="{value}"[^>]*>', html)
    assert match, f"no {value} checkbox"
    return match.group(0)


def test_it_offers_read_and_write_by_default_and_pii_with_a_warning(owner: Any) -> None:
    html = owner.get(reverse("api_keys")).content.decode()
    assert "checked" in checkbox(html, "read") and "checked" in checkbox(html, "write")
    assert "checked" not in checkbox(html, "pii")
    assert 'id="pii-warning"' in html and "decrypted identity data" in html


@pytest.mark.parametrize(
    ("chosen", "stored"),
    [(["read"], ["read"]), (["pii", "read", "write"], ["read", "write", "pii"])],
)
def test_it_creates_a_key_with_the_chosen_scopes_and_lists_them(
    owner: Any, chosen: list[str], stored: list[str]
) -> None:
    r = owner.post(reverse("api_keys"), {"name": "shop", "scopes": chosen})
    assert r.status_code == 200
    key = ApiKey.objects.get(merchant=owner.merchant, name="shop")
    assert key.scopes == stored
    row = re.search(r'<td class="scopes">(.*?)</td>', r.content.decode(), re.S)
    assert row and re.findall(r">(\w+)</code>", row.group(1)) == stored


@pytest.mark.parametrize("chosen", [[], ["root"]])
def test_it_refuses_no_scope_or_an_unknown_one(owner: Any, chosen: list[str]) -> None:
    r = owner.post(reverse("api_keys"), {"name": "shop", "scopes": chosen})
    assert r.status_code == 200
    assert not ApiKey.objects.filter(name="shop").exists()
    assert "errorlist" in r.content.decode()


@pytest.fixture
def admin(db: Any, client: Any) -> Any:
    """An administrator manages keys but may not reveal personal data."""
    return signed_in(client, "Admin Ltd", Membership.Role.ADMIN, reveal=False)


def test_it_lets_only_a_member_who_may_reveal_pii_grant_the_pii_scope(admin: Any) -> None:
    html = admin.get(reverse("api_keys")).content.decode()
    assert not re.search(r'<input[^>]*name="scopes"[^>]*value="pii"', html)
    assert "only a member who may reveal personal data" in html
    r = admin.post(reverse("api_keys"), {"name": "sneaky", "scopes": ["read", "pii"]})
    assert "may reveal personal data" in r.content.decode()
    assert not ApiKey.objects.filter(name="sneaky").exists()
    admin.post(reverse("api_keys"), {"name": "plain", "scopes": ["read", "write"]})
    assert ApiKey.objects.get(name="plain").scopes == ["read", "write"]  # control
