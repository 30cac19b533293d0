"""The API docs and the quick start page in chromium, under the portal's own strict CSP."""

from __future__ import annotations

import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from kyc.models import Membership
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSP_WORDS = re.compile(r"Content Security Policy|Refused to", re.I)


def _watch(page: Any) -> list[str]:
    """Console errors, uncaught page errors and failed loads, as devtools would show them.
    (The browser's own /favicon.ico guess is not ours: the portal serves none.)"""
    seen: list[str] = []

    def console(m: Any) -> None:
        if m.type == "error" and not m.text.startswith("Failed to load resource"):
            seen.append(m.text)

    def response(r: Any) -> None:
        if r.status >= 400 and not r.url.endswith("/favicon.ico"):
            seen.append(f"{r.status} {r.url}")

    page.on("console", console)
    page.on("pageerror", lambda e: seen.append(str(e)))
    page.on("response", response)
    return seen


def _open_signed_in(page: Any, live_server: Any, merchant: Any, role: str, path: str) -> None:
    """Sign a member with `role` in through the login page, then open `path`."""
    user = factories.staff_user(merchant, role=role)
    user.set_password("pw-for-the-docs-test")
    user.save()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-for-the-docs-test")
    page.click("form button[type=submit], form input[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}{path}")


def test_it_renders_every_operation_in_the_docs_with_no_csp_error(
    page: Any, live_server: Any, merchant: Any
) -> None:
    operations = sum(
        len(ops)
        for ops in SchemaGenerator().get_schema(request=None, public=True)["paths"].values()
    )
    problems = _watch(page)
    response = page.goto(f"{live_server.url}/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary", timeout=15000)
    shown = page.locator(".opblock")
    assert shown.count() == operations
    text = page.inner_text("#swagger-ui")
    for summary in ("Start a verification request", "Cancel a verification request"):
        assert summary in text
    # open one operation: its examples and the error shape are there
    page.get_by_text("Cancel a verification request").first.click()
    page.wait_for_selector("text=Idempotency-Key")
    opened = page.inner_text(".opblock.is-open")
    assert "409" in opened and "already completed" in opened
    page.wait_for_timeout(300)
    assert not [p for p in problems if CSP_WORDS.search(p)], problems
    assert not problems, problems


def test_it_lets_a_signed_in_owner_try_the_api_from_the_docs(
    page: Any, live_server: Any, merchant: Any
) -> None:
    problems = _watch(page)
    _open_signed_in(page, live_server, merchant, Membership.Role.OWNER, "/api/docs/")
    page.wait_for_selector(".opblock-summary", timeout=15000)
    page.get_by_text("List verification requests").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    page.wait_for_selector(".live-responses-table .response-col_status")
    status = page.inner_text(".live-responses-table tbody .response-col_status")
    assert status.strip().startswith("200"), status
    assert not [p for p in problems if CSP_WORDS.search(p)], problems


def test_it_shows_the_quick_start_linked_from_the_dashboard(
    page: Any, live_server: Any, merchant: Any
) -> None:
    problems = _watch(page)
    _open_signed_in(page, live_server, merchant, Membership.Role.VIEWER, "/")
    page.click("#api-quickstart")
    page.wait_for_selector("#snippet-curl")
    assert page.inner_text("#base-url") == live_server.url
    curl = page.inner_text("#snippet-curl")
    assert f"export PORTAL={live_server.url}" in curl and "/cancel/" in curl
    assert page.inner_text("#coreid-value") in page.inner_text("#snippet-python")
    assert not problems, problems


def test_it_shows_the_browsable_api_to_a_signed_in_member_with_no_csp_error(
    page: Any, live_server: Any, merchant: Any
) -> None:
    from tests.api.conftest import pending_transfer

    pending_transfer(merchant, reference="browsable-42")
    problems = _watch(page)
    _open_signed_in(page, live_server, merchant, Membership.Role.OWNER, "/api/v1/transfers/")
    page.wait_for_selector(".response-info")
    assert "browsable-42" in page.inner_text(".response-info")
    page.click("text=Filters")  # django-filter's form, opened by DRF's own script
    page.wait_for_selector("#filtersModal input[name=reference]", state="visible")
    assert not problems, problems
