"""Every login path (merchant /login/, /admin/login/) shares one limiter, per address
and per account: once either is spent, even the right password gets 429."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-123"


@pytest.fixture
def staff(merchant):
    user = factories.UserFactory(username="alice", password=PASSWORD, is_staff=True)
    factories.MembershipFactory(user=user, merchant=merchant, role="owner")
    return user


def login(client, path: str, password: str, addr: str = "127.0.0.1", username: str = "alice"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=addr)


@pytest.mark.parametrize("path", ["/admin/login/", "/login/"])
def test_it_refuses_the_right_password_after_25_wrong_ones(path, client, staff) -> None:
    codes = [login(client, path, "wrong").status_code for _ in range(25)]
    assert codes[:20] == [200] * 20 and set(codes[20:]) == {429}, codes
    right = login(client, path, PASSWORD)
    assert right.status_code == 429
    assert b"Too many login attempts" in right.content and right["Retry-After"] == "60"
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("path", ["/admin/login/", "/login/"])
def test_it_limits_one_account_across_addresses(path, client, staff) -> None:
    codes = [login(client, path, "wrong", addr=f"10.0.{i}.1").status_code for i in range(25)]
    assert 429 in codes, "25 guesses from 25 addresses were never limited"
    assert login(client, path, PASSWORD, addr="10.9.9.9").status_code == 429
    # The account's case-folded name shares the budget.
    assert login(client, path, PASSWORD, addr="10.9.9.8", username="ALICE").status_code == 429


def test_it_shares_one_budget_between_the_login_paths(client, staff) -> None:
    for i in range(20):
        login(client, "/login/" if i % 2 else "/admin/login/", "wrong", addr=f"10.1.{i}.1")
    assert login(client, "/admin/login/", PASSWORD, addr="10.2.0.1").status_code == 429


def test_it_leaves_other_accounts_and_addresses_alone(client, staff) -> None:
    get_user_model().objects.create_user("bob", password=PASSWORD)
    for _ in range(21):
        login(client, "/login/", "wrong", addr="10.3.0.1")
    r = login(client, "/login/", PASSWORD, addr="10.3.0.2", username="bob")
    assert r.status_code == 302 and r["Location"] == "/"
