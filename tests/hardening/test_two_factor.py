"""STAFF_REQUIRE_2FA: staff without an authenticator are sent to set one up (a one-time setup
code a superuser issued, then the QR code of the otpauth:// URI, confirmed with a code);
merchant and admin pages need a verified session. The password alone sets up nothing."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone
from django_otp.oath import TOTP

from kyc.models import StaffSetupCode, StaffTOTPDevice
from kyc.services.setup_codes import staff_setup_code_issue
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
    code = staff_setup_code_issue(user=user)
    asked = client.post("/2fa/setup/", {"setup_code": code.lower(), "next": "/keys/"})
    assert asked.status_code == 302 and asked["Location"] == "/2fa/setup/?next=%2Fkeys%2F"
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
    assert not StaffSetupCode.objects.filter(user=user).exists()  # used up


def test_the_password_alone_never_shows_the_qr_code(client, user, required) -> None:
    client.force_login(user)  # signed in with the password (stolen, say): no setup code
    page = client.get("/2fa/setup/?next=/keys/")
    html = page.content.decode()
    assert page.status_code == 200 and "setup code" in html
    assert "<svg" not in html and "no-store" in page["Cache-Control"]
    assert not StaffTOTPDevice.objects.filter(user=user).exists()  # no secret made yet
    code = staff_setup_code_issue(user=user)
    wrong = client.post("/2fa/setup/", {"setup_code": "ABCD-EFGH-JKMN"})
    assert wrong.status_code == 200 and b"wrong, already used or expired" in wrong.content
    assert "<svg" not in wrong.content.decode()
    staff_setup_code_issue(user=user)  # a new code: the earlier one stops working
    stale = client.post("/2fa/setup/", {"setup_code": code})
    assert stale.status_code == 200 and b"wrong, already used or expired" in stale.content
    assert client.get("/keys/").status_code == 302  # still no way in


def test_a_setup_code_expires_belongs_to_one_account_and_is_spent_once_used(
    client, user, required
) -> None:
    code = staff_setup_code_issue(user=user)
    StaffSetupCode.objects.filter(user=user).update(expires_at=timezone.now())
    client.force_login(user)
    r = client.post("/2fa/setup/", {"setup_code": code})
    assert r.status_code == 200 and b"expired" in r.content
    code = staff_setup_code_issue(user=user)
    other = factories.UserFactory(username="dave", password="pw-987654321", is_staff=True)
    client.force_login(other)  # another account cannot use carol's code
    assert b"wrong, already used" in client.post("/2fa/setup/", {"setup_code": code}).content
    client.force_login(user)
    assert client.post("/2fa/setup/", {"setup_code": code}).status_code == 302
    client.logout()  # the setup left half-way (browser closed): the code still works
    client.force_login(user)
    assert "<svg" not in client.get("/2fa/setup/").content.decode()  # a new session asks again
    assert client.post("/2fa/setup/", {"setup_code": code}).status_code == 302
    assert "<svg" in client.get("/2fa/setup/").content.decode()
    device = StaffTOTPDevice.objects.get(user=user, confirmed=False)
    assert client.post("/2fa/setup/", {"code": code_for(device)}).status_code == 302
    assert not StaffSetupCode.objects.filter(user=user).exists()  # spent by the confirmation


def test_a_setup_left_half_way_stops_when_a_new_code_is_issued(client, user, required) -> None:
    client.force_login(user)
    code = staff_setup_code_issue(user=user)
    assert client.post("/2fa/setup/", {"setup_code": code}).status_code == 302
    assert "<svg" in client.get("/2fa/setup/").content.decode()
    staff_setup_code_issue(user=user)  # the superuser reissued it (the first one leaked, say)
    assert "<svg" not in client.get("/2fa/setup/").content.decode()


def test_it_limits_setup_code_guessing_per_account(client, user, required) -> None:
    client.force_login(user)
    tries = [client.post("/2fa/setup/", {"setup_code": "AAAA-AAAA-AAAA"}) for _ in range(22)]
    assert tries[-1].status_code == 429


def test_it_asks_no_setup_code_when_switched_off(client, user, required, settings) -> None:
    settings.STAFF_SETUP_CODE_REQUIRED = False
    client.force_login(user)
    assert "<svg" in client.get("/2fa/setup/").content.decode()


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


def test_a_superuser_issues_setup_codes_from_the_users_list(
    client, user, admin_user, settings
) -> None:
    from kyc.models import AuditEntry

    client.force_login(admin_user)  # the admin's own second factor is off in this test
    r = client.post(
        "/admin/auth/user/",
        {"action": "issue_setup_code", "_selected_action": [user.pk]},
    )
    html = r.content.decode()
    assert r.status_code == 200 and "no-store" in r["Cache-Control"]
    (code,) = re.findall(r'<code class="setup-code">([A-Z0-9-]{14})</code>', html)
    assert "carol" in html and "apart from their password" in html
    entry = AuditEntry.objects.get(action="staff.setup_code_issued")
    assert entry.actor == admin_user and entry.object_id == str(user.pk)
    assert code not in str(entry.detail) and code.replace("-", "") not in str(entry.detail)
    # The code is what carol needs, once signed in with her password.
    settings.STAFF_REQUIRE_2FA = True
    client.force_login(user)
    assert client.post("/2fa/setup/", {"setup_code": code}).status_code == 302
    assert "<svg" in client.get("/2fa/setup/").content.decode()


def test_staff_who_are_not_superusers_cannot_issue_setup_codes(client, user, merchant) -> None:
    from django.contrib.auth.models import Permission

    clerk = factories.UserFactory(username="erin", password="pw-1122334455", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    client.force_login(clerk)
    r = client.post(
        "/admin/auth/user/",
        {"action": "issue_setup_code", "_selected_action": [user.pk]},
        follow=True,
    )
    assert b"Only superusers issue setup codes." in r.content
    assert not StaffSetupCode.objects.filter(user=user).exists()


def test_the_command_prints_a_setup_code_for_the_first_superuser(user) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    from kyc.services.setup_codes import staff_setup_code_check

    out = StringIO()
    call_command("staff_setup_code", "carol", stdout=out)
    (code,) = re.findall(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}\b", out.getvalue())
    assert staff_setup_code_check(user=user, code=code) is not None
    with pytest.raises(CommandError):
        call_command("staff_setup_code", "nobody")
