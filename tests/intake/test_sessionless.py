"""Provider deliveries and the customer page's poll skip the session stack
(portal.middleware.SessionlessMiddleware, kyc.sessionless) and keep everything the
security middleware gives every answer."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from kyc.models import InboundEvent
from tests.contract.deliveries import blockpass_account, blockpass_resolved, blockpass_webhook, post
from tests.customer.test_page_views import make

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cret-fast-path"


def _security_headers(answer: Any) -> None:
    assert answer["Content-Length"] == str(len(answer.content))  # never sent chunked
    assert "frame-ancestors 'none'" in answer["Content-Security-Policy"]
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["X-Frame-Options"] == "DENY"
    assert answer["Referrer-Policy"] == "same-origin"


def test_a_delivery_meets_no_session_language_or_user(client: Any, merchant: Any) -> None:
    account = blockpass_account(merchant, webhook_secret=SECRET)
    client.cookies["sessionid"] = "a-session-a-provider-never-has"
    client.cookies["django_language"] = "uk"
    answer = post(client, blockpass_webhook(account, blockpass_resolved("bp-f"), secret=SECRET))
    assert answer.status_code == 200, answer.content
    assert "Content-Language" not in answer  # LocaleMiddleware did not run
    assert "Cookie" not in answer.get("Vary", "")  # nor sessions or authentication
    assert not answer.cookies  # no session, CSRF or language cookie set
    assert answer.wsgi_request.resolver_match.url_name == "blockpass_webhook"
    assert not hasattr(answer.wsgi_request, "session")
    assert not hasattr(answer.wsgi_request, "user")
    _security_headers(answer)
    assert InboundEvent.objects.filter(account=account, state="received").count() == 1


def test_a_refused_delivery_keeps_the_security_headers(client: Any, merchant: Any) -> None:
    account = blockpass_account(merchant, webhook_secret=SECRET)
    answer = post(client, blockpass_webhook(account, blockpass_resolved("bp-f"), secret="wrong"))
    assert answer.status_code == 401
    _security_headers(answer)
    assert InboundEvent.objects.get(account=account).state == "refused"


@override_settings(SECURE_SSL_REDIRECT=True)
def test_https_is_still_enforced_on_deliveries(client: Any, merchant: Any) -> None:
    account = blockpass_account(merchant, webhook_secret=SECRET)
    answer = post(client, blockpass_webhook(account, blockpass_resolved("bp-f"), secret=SECRET))
    assert answer.status_code == 301 and answer["Location"].startswith("https://")
    assert not InboundEvent.objects.exists()


def test_the_poll_answers_in_the_customers_language_without_the_stack(
    client: Any, merchant: Any
) -> None:
    t = make(merchant)
    client.cookies["sessionid"] = "a-session-a-customer-never-has"
    answer = client.get(f"/t/{t.page_token}/status", HTTP_ACCEPT_LANGUAGE="uk")
    assert answer.status_code == 200
    assert answer["Content-Language"] == "uk"  # chosen by the view itself
    assert answer["Vary"] == "Accept-Language, Cookie, User-Agent"
    assert not answer.cookies
    assert not hasattr(answer.wsgi_request, "session")
    assert answer["Cache-Control"] == "no-store"
    _security_headers(answer)
    page = client.get(f"/t/{t.page_token}/")  # the page itself takes the whole stack
    assert page.status_code == 200 and hasattr(page.wsgi_request, "session")


def test_a_failing_poll_answers_the_500_page_with_every_header(merchant: Any) -> None:
    from unittest import mock

    from django.test import Client

    t = make(merchant)
    browser = Client(raise_request_exception=False)
    with mock.patch("kyc.views.ratelimit.hit_and_get_many", side_effect=RuntimeError("x")):
        answer = browser.get(f"/t/{t.page_token}/status")
    assert answer.status_code == 500
    _security_headers(answer)


def test_other_paths_under_hooks_take_the_whole_stack(client: Any) -> None:
    answer = client.post("/hooks/no-such-provider/x/", b"{}", content_type="application/json")
    assert answer.status_code == 404
    assert "Content-Language" in answer  # the full stack ran
    page = client.get("/login/")
    assert "Content-Language" in page and "Cookie" in page["Vary"]
