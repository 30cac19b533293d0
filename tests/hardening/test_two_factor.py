"""STAFF_REQUIRE_2FA: staff without an authenticator are sent to set one up (QR code of
the otpauth:// URI, confirmed with a code); merchant and admin pages need a verified session."""

from __future__ import annotations

import re
import time

import pytest
from django_otp.oath import TOTP

from kyc.models import StaffTOTPDevice
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(merchant):
    user = factories.UserFactory(username="carol", password="pw-123456789", is_staff=True)
    factories.MembershipFactory(user=user, merchant=merchant, role="owner")
    return user


@pytest.fixture
def required(settings):
    settings.STAFF_REQUIRE_2FA = True


def code_for(device: StaffTOTPDevice, offset: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset
    return f"{totp.token():0{device.digits}d}"


@pytest.mark.parametrize("page", ["/", "/keys/", "/providers/", "/admin/", "/admin/kyc/kycrecord/"])
def test_it_sends_staff_without_an_authenticator_to_set_one_up(
    page, client, user, required
) -> None:
    client.force_login(user)
    r = client.get(page)
    assert r.status_code == 302 and r["Location"].startswith("/2fa/setup/?next="), (page, r)


def test_it_sets_up_an_authenticator_from_a_qr_code_and_lets_the_session_in(
    client, user, required
) -> None:
    client.force_login(user)
    page = client.get("/2fa/setup/?next=/keys/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "otpauth" not in html.split("<svg")[0][-200:]
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script under the strict CSP"
    assert "no-store" in page["Cache-Control"]
    device = StaffTOTPDevice.objects.get(user=user, confirmed=False)
    assert device.config_url.startswith("otpauth://totp/")
    assert client.post("/2fa/setup/", {"code": "000000", "next": "/keys/"}).status_code == 200
    assert client.get("/").status_code == 302  # a wrong code verifies nothing
    device.refresh_from_db()
    device.throttle_reset()  # django-otp makes the next try wait a second
    r = client.post("/2fa/setup/", {"code": code_for(device), "next": "/keys/"})
    assert r.status_code == 302 and r["Location"] == "/keys/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_it_asks_a_code_of_staff_with_an_authenticator(client, user, required) -> None:
    device = StaffTOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client.force_login(user)
    r = client.get("/admin/")
    assert r.status_code == 302 and r["Location"].startswith("/2fa/verify/?next=")
    assert client.get("/2fa/setup/").status_code == 302  # no second device by self-service
    bad = client.post("/2fa/verify/", {"code": "123456", "next": "/admin/"})
    assert bad.status_code == 200 and b"does not match" in bad.content
    device.refresh_from_db()
    device.throttle_reset()  # django-otp makes the next try wait a second
    ok = client.post("/2fa/verify/", {"code": code_for(device), "next": "https://evil.example/"})
    assert ok.status_code == 302 and ok["Location"] == "/"  # no open redirect
    assert client.get("/admin/").status_code == 200


def test_it_limits_code_guessing_per_account(client, user, required, settings) -> None:
    StaffTOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client.force_login(user)
    codes = [client.post("/2fa/verify/", {"code": "111111"}).status_code for _ in range(22)]
    assert codes[-1] == 429


def test_it_leaves_customer_pages_api_and_hooks_alone(client, user, required) -> None:
    client.force_login(user)
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/transfers/").status_code in (401, 403)
    assert client.get("/t/unknown/").status_code == 404


def test_it_requires_nothing_when_off(client, user, settings) -> None:
    settings.STAFF_REQUIRE_2FA = False
    client.force_login(user)
    assert client.get("/").status_code == 200
