"""The merchant console in chromium: the dashboard's charts, a verification that updates
itself, and "New verification" per provider. Screenshots: var/screenshots/console_*.png
(and the page fixture's own, per test)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from kyc.models import Membership, TransferRequest
from kyc.status import Status
from providers.corepass.coreid import sample_coreid
from tests import factories
from tests.admin_workspace.conftest import browser_login
from tests.conftest import SCREENSHOTS
from tests.console.conftest import ACCEPTED, customer_with_email, make_transfer, waiting_review

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, base: str, merchant: Any) -> Any:
    user = factories.staff_user(merchant, reveal=True, role=Membership.Role.OWNER)
    browser_login(page, f"{base}/login/", user, submit="button[type=submit]")
    return user


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"console_{name}.png"), full_page=True)


def seed_month(accounts: dict[str, Any], merchant: Any) -> int:
    """A month of CorePass and Portmone requests with every outcome; returns how many."""
    now = timezone.now()
    made = 0
    for day in range(30):
        for i in range(2 + (day * 7) % 5):
            account = accounts["corepass"] if (day + i) % 3 else accounts["portmone"]
            kind = (day * 3 + i) % 7
            # Never before that day's midnight: the charts count UTC calendar days
            # (selectors.dashboard_since), and a run just after midnight would otherwise
            # push the oldest day's last requests out of the window.
            day_start = (
                (now - dt.timedelta(days=day))
                .astimezone(dt.UTC)
                .replace(hour=0, minute=0, second=0, microsecond=0)
            )
            created = max(day_start, now - dt.timedelta(days=day, hours=i))
            if kind in (0, 1, 2, 3):
                make_transfer(
                    account,
                    created=created,
                    status=Status.COMPLETED,
                    opened=True,
                    passed=ACCEPTED,
                    took=dt.timedelta(minutes=2 + kind * 3 + i),
                )
            elif kind == 4:
                make_transfer(
                    account, created=created, status=Status.FAILED, opened=True, passed=ACCEPTED
                )
            elif kind == 5:
                make_transfer(account, created=created, status=Status.EXPIRED, opened=day % 2 == 0)
            else:
                make_transfer(account, created=created, status=Status.PENDING, opened=True)
            made += 1
    for hours in (1, 5, 30, 80):
        waiting_review(merchant, f"review-{hours}h", hours)
    return made


def test_it_draws_the_dashboard_charts(
    public_url: str, accounts: dict[str, Any], merchant: Any, page: Any
) -> None:
    made = seed_month(accounts, merchant)
    sign_in(page, public_url, merchant)
    page.goto(f"{public_url}/")
    assert page.inner_text("#stat-total") == str(made)
    # 30 days of stacked bars, each coloured part with a readable tooltip
    assert page.locator("#chart-daily svg g.bar").count() == 30
    assert page.locator("#chart-daily rect[data-outcome=completed]").count() > 10
    title = page.locator("#chart-daily rect").first.locator("title").text_content()
    assert title and ":" in title
    assert page.locator("#chart-funnel g.funnel-group").count() == 2
    assert "past the 24 h target" in page.inner_text("#chart-reviews")
    # the data table is there for whoever cannot read a chart
    shot(page, "dashboard")
    page.click("#chart-daily summary")
    assert page.locator("#daily-table tbody tr").count() == 30
    # the list behind it: filter to what failed
    page.goto(f"{public_url}/transfers/?status=outcome%3Afailed")
    assert (
        page.locator("#transfer-list .badge-failed").count()
        == page.locator("#transfer-list tbody tr").count()
    )
    shot(page, "list_failed")


def test_it_shows_a_verification_as_it_changes(
    public_url: str, accounts: dict[str, Any], merchant: Any, page: Any
) -> None:
    t = customer_with_email(
        accounts["corepass"], "cust-42", "olena@example.com", provider_status="AWAITING"
    )
    sign_in(page, public_url, merchant)
    page.goto(f"{public_url}/transfers/{t.pk}/")
    assert "Waiting for the customer" in page.inner_text("#live-status")
    assert "olena@example.com" not in page.content()
    page.click("#qr-details summary")
    assert page.locator("#qr-details svg").is_visible()
    shot(page, "detail_waiting")
    # the provider reports progress: the page follows without a reload
    TransferRequest.objects.filter(pk=t.pk).update(
        status=Status.COMPLETED, status_detail="All items received", completed_at=timezone.now()
    )
    page.wait_for_selector("#live-status .badge-completed", timeout=10_000)
    assert "All items received" in page.inner_text("#live-status")
    # reveal, with a reason
    page.select_option("#reveal-purpose", "review")
    page.click("#reveal-button")
    page.wait_for_selector(".revealed")
    assert page.inner_text(".revealed") == "olena@example.com"
    shot(page, "detail_revealed")
    # the customer's own page: the same reveal (one record), and this verification listed
    page.click("#customer-link")
    page.wait_for_selector("#customer-transfers")
    assert page.inner_text(".revealed") == "olena@example.com"
    assert "Completed" in page.inner_text("#customer-transfers")
    shot(page, "customer")


@pytest.fixture
def signed_in(public_url: str, accounts: dict[str, Any], merchant: Any, page: Any) -> Any:
    """The merchant's owner, signed in to the console in `page` (its accounts set up)."""
    return sign_in(page, public_url, merchant)


@pytest.mark.usefixtures("signed_in")
def test_it_asks_each_provider_for_its_own_fields(public_url: str, page: Any) -> None:
    page.goto(f"{public_url}/transfers/new/")
    page.select_option("#id_provider", "portmone")
    assert page.locator("#fields-portmone").is_visible()
    assert not page.locator("#id_subject_corepass").is_visible()
    assert not page.locator("#fields-corepass").is_visible()
    shot(page, "new_portmone")
    page.select_option("#id_provider", "incode")
    assert "flow configured in your Incode dashboard" in page.inner_text("#fields-incode")
    assert not page.locator("#fields-portmone").is_visible()
    page.select_option("#id_provider", "corepass")
    assert page.locator("#id_subject_corepass").is_visible()
    assert page.locator("#fields-corepass input[value=SH_ANY_DOB]").is_checked()
    shot(page, "new_corepass")
    # a real start against the CorePass sandbox: the customer it knows, two items
    page.fill("#id_reference", "shop-customer-9")
    page.fill("#id_subject_corepass", sample_coreid())
    page.check("#fields-corepass input[value=SH_ANY_FULLNAME]")
    page.click("#new-verification button:has-text('Start')")
    page.wait_for_selector("#live-status")
    t = TransferRequest.objects.get(reference="shop-customer-9")
    assert t.provider == "corepass" and t.status == Status.PENDING, t.status_detail
    assert "SH_ANY_FULLNAME" in t.items or any("FULLNAME" in i for i in t.items)
    assert page.locator("#page-url").inner_text().endswith(f"/t/{t.page_token}/")
    shot(page, "new_started")


@pytest.mark.usefixtures("signed_in")
def test_it_tests_a_connection_without_leaving_the_page(
    public_url: str, accounts: dict[str, Any], page: Any
) -> None:
    page.goto(f"{public_url}/providers/corepass/")
    assert "Nothing to paste at CorePass" in page.inner_text("#setup")
    assert page.locator("#webhook-url").count() == 0
    stored = accounts["corepass"].settings["connector_url"]
    page.click("#test-button")  # the stored values, as they are on the page
    page.wait_for_selector("#test-result .test-result")
    assert "Connection works with the values on this page" in page.inner_text("#test-result")
    page.fill("#id_connector_url", "https://connector.invalid/")
    page.click("#test-button")
    page.wait_for_selector("#test-result .bad-box")
    assert "Connection failed" in page.inner_text("#test-result")
    # the edit is still on the screen, and nothing was saved
    assert page.input_value("#id_connector_url") == "https://connector.invalid/"
    accounts["corepass"].refresh_from_db()
    assert accounts["corepass"].settings["connector_url"] == stored
    shot(page, "settings_test")
