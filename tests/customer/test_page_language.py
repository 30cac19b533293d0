"""The customer's language: the switcher's cookie, then Accept-Language, then the
merchant's default; <html lang> and the fragment follow it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from kyc import customer
from tests.customer.test_page_views import make

pytestmark = pytest.mark.django_db


def lang_of(response: Any) -> str:
    html = response.content.decode()
    start = html.index('<html lang="') + len('<html lang="')
    return html[start : html.index('"', start)]


@pytest.mark.parametrize(
    ("accept", "cookie", "default", "expected"),
    [
        ("uk-UA,uk;q=0.9,en;q=0.8", None, "en", "uk"),
        ("de-AT,de;q=0.9", None, "en", "de"),
        ("en-GB,en;q=0.9", None, "uk", "en"),  # the browser's stated language wins
        ("fr-FR,fr;q=0.9", None, "uk", "uk"),  # nothing supported: the merchant's default
        ("", None, "de", "de"),
        ("fr,*;q=0.5", None, "uk", "uk"),
        ("uk", "de", "en", "de"),  # the switcher's choice wins over the browser
        ("uk", "xx", "en", "uk"),  # an unknown cookie value is ignored
    ],
)
def test_it_picks_the_customers_language(
    merchant: Any, accept: str, cookie: str | None, default: str, expected: str
) -> None:
    merchant.default_language = default
    merchant.save()
    t = make(merchant)
    client = Client()
    if cookie:
        client.cookies["django_language"] = cookie
    page = client.get(f"/t/{t.page_token}/", HTTP_ACCEPT_LANGUAGE=accept)
    assert lang_of(page) == expected and page["Content-Language"] == expected
    fragment = client.get(f"/t/{t.page_token}/status", HTTP_ACCEPT_LANGUAGE=accept)
    assert fragment["Content-Language"] == expected


def test_it_switches_language_with_the_switcher_and_comes_back_to_the_page(
    merchant: Any,
) -> None:
    t = make(merchant)
    client = Client()
    page = client.get(f"/t/{t.page_token}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'action="/i18n/setlang/"' in page and 'name="language" value="uk"' in page
    assert 'value="en" lang="en" aria-current="true"' in page
    r = client.post(
        "/i18n/setlang/",
        {"language": "uk", "next": f"/t/{t.page_token}/"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert r.status_code == 302 and r["Location"] == f"/t/{t.page_token}/"
    again = client.get(f"/t/{t.page_token}/", HTTP_ACCEPT_LANGUAGE="en")
    assert lang_of(again) == "uk"
    assert 'value="uk" lang="uk" aria-current="true"' in again.content.decode()


def test_it_maps_language_codes_to_the_shipped_ones() -> None:
    assert customer.supported("uk-UA") == "uk"
    assert customer.supported("de-CH") == "de"
    assert customer.supported("en-us") == "en"
    assert customer.supported("fr") is None and customer.supported("") is None


def test_it_words_the_countdown_for_the_script_and_as_a_fallback(merchant: Any) -> None:
    from django.utils import timezone

    t = make(merchant, expires_at=timezone.now() + dt.timedelta(minutes=4, seconds=10))
    html = Client().get(f"/t/{t.page_token}/").content.decode()
    assert 'data-expires-text="This code expires {when}."' in html
    assert "This code expires in 5 minutes." in html  # server-side, rounded up
    assert t.expires_at is not None and f'data-expires="{t.expires_at.isoformat()}"' in html
