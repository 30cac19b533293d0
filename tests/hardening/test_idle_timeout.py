"""SESSION_IDLE_TIMEOUT: a signed-in session ends after that long without a request."""

from __future__ import annotations

import time

import pytest

from portal.middleware import LAST_ACTIVITY_KEY

pytestmark = pytest.mark.django_db


def idle_for(client, seconds: int) -> None:
    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - seconds
    session.save()


def test_it_logs_out_after_the_idle_timeout(staff_client, settings) -> None:
    settings.SESSION_IDLE_TIMEOUT = 1800
    assert staff_client.get("/").status_code == 200
    assert LAST_ACTIVITY_KEY in staff_client.session
    idle_for(staff_client, 1801)
    r = staff_client.get("/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert "_auth_user_id" not in staff_client.session
    assert staff_client.get("/").status_code == 302  # and stays logged out


def test_it_logs_out_of_the_admin_too(staff_client, settings) -> None:
    settings.SESSION_IDLE_TIMEOUT = 60
    idle_for(staff_client, 61)
    r = staff_client.get("/admin/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_it_keeps_an_active_session(staff_client, settings) -> None:
    settings.SESSION_IDLE_TIMEOUT = 1800
    idle_for(staff_client, 1700)
    assert staff_client.get("/").status_code == 200
    # That request was activity: the stamp moved, so 200 s more are fine.
    assert int(time.time()) - staff_client.session[LAST_ACTIVITY_KEY] < 5


def test_it_does_not_count_status_polls_as_activity(staff_client, settings) -> None:
    settings.SESSION_IDLE_TIMEOUT = 1800
    idle_for(staff_client, 1700)
    staff_client.get("/", HTTP_HX_REQUEST="true")
    assert int(time.time()) - staff_client.session[LAST_ACTIVITY_KEY] >= 1700
