"""The customer page speaks the customer's language: the language switcher's choice, else
the first supported language the browser asks for, else the merchant's default; the page,
<html lang>, Content-Language and the polled status fragment all agree."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.utils import translation

from kyc import customer
from kyc.status import Status
from tests.customer import axe
from tests.customer.conftest import plain_request, snap


def words(language: str, status: str = Status.PENDING) -> tuple[str, str]:
    """(status word, heading) of a pending Portmone page in a language."""
    with translation.override(language):
        return str(customer.STATUS_WORDS[status]), str(customer.provider_copy("portmone").title)


def html_lang(body: str) -> str:
    match = re.search(r'<html[^>]*\slang="([^"]+)"', body)
    assert match, body[:200]
    return match.group(1)


@pytest.fixture
def pending(merchant: Any) -> Any:
    return plain_request(merchant, "portmone")


def open_page(client: Any, t: Any, accept_language: str | None = None) -> Any:
    headers = {"HTTP_ACCEPT_LANGUAGE": accept_language} if accept_language is not None else {}
    return client.get(f"/t/{t.page_token}/", **headers)


def request_of(merchant: Any, *, language: str) -> Any:
    """A Portmone request of `merchant`, whose default language is now `language`."""
    merchant.default_language = language
    merchant.save()
    return plain_request(merchant, "portmone")


def test_it_ships_ukrainian_and_german_translations() -> None:
    # Positive control for everything below: the words differ from English at all.
    english = words("en")
    assert words("uk") != english and re.search("[А-Яа-яІіЇїЄєҐґ]", " ".join(words("uk")))
    assert words("de") != english


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("uk", "uk"),
        ("uk-UA,uk;q=0.9,en-US;q=0.8,en;q=0.7", "uk"),
        ("de-DE,de;q=0.9,en;q=0.5", "de"),
        ("de-AT", "de"),
        ("en-US,en;q=0.9,uk;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,de;q=0.5", "de"),  # the first language we have, in the browser's order
    ],
)
def test_it_answers_in_the_browsers_language(
    client: Any, pending: Any, accept_language: str, expected: str
) -> None:
    r = open_page(client, pending, accept_language)
    body = r.content.decode()
    assert r.status_code == 200
    assert html_lang(body) == expected
    assert r["Content-Language"] == expected
    status_word, heading = words(expected)
    assert status_word in body and heading in body
    if expected != "en":
        assert words("en")[1] not in body  # not the English heading next to it


@pytest.mark.parametrize("accept_language", ["fr-FR,fr;q=0.9", "", None, "*"])
def test_it_falls_back_to_the_merchants_language(
    client: Any, merchant: Any, accept_language: str | None
) -> None:
    t = request_of(merchant, language="uk")
    body = open_page(client, t, accept_language).content.decode()
    assert html_lang(body) == "uk"
    assert words("uk")[1] in body


def test_it_prefers_a_supported_browser_language_to_the_merchants(
    client: Any, merchant: Any
) -> None:
    t = request_of(merchant, language="uk")
    body = open_page(client, t, "de-DE,de;q=0.9").content.decode()
    assert html_lang(body) == "de" and words("de")[1] in body


def test_it_keeps_english_for_an_english_merchant_and_an_unsupported_browser(
    client: Any, pending: Any
) -> None:
    body = open_page(client, pending, "fr-FR,fr;q=0.9,es;q=0.5").content.decode()
    assert html_lang(body) == "en" and words("en")[1] in body


def test_it_lets_the_switcher_override_the_browser(client: Any, pending: Any) -> None:
    page_url = f"/t/{pending.page_token}/"
    r = client.post("/i18n/setlang/", {"language": "de", "next": page_url})
    assert r.status_code == 302 and r["Location"] == page_url
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    body = open_page(client, pending, "uk").content.decode()
    assert html_lang(body) == "de" and words("de")[1] in body
    # and the polled fragment follows the same choice
    fragment = client.get(f"{page_url}status", HTTP_ACCEPT_LANGUAGE="uk").content.decode()
    assert words("de")[0] in fragment and words("uk")[0] not in fragment


def test_it_never_sends_the_switcher_to_another_site(client: Any, pending: Any) -> None:
    r = client.post("/i18n/setlang/", {"language": "uk", "next": "https://evil.example/x"})
    assert "evil.example" not in r.get("Location", "")


@pytest.mark.parametrize("language", ["uk", "de", "en"])
def test_it_polls_in_the_same_language(client: Any, pending: Any, language: str) -> None:
    r = client.get(f"/t/{pending.page_token}/status", HTTP_ACCEPT_LANGUAGE=language)
    assert r.status_code == 200 and r["Content-Language"] == language
    assert words(language)[0] in r.content.decode()


def test_it_polls_in_the_merchants_language_when_the_browser_has_none_of_ours(
    client: Any, merchant: Any
) -> None:
    t = request_of(merchant, language="de")
    r = client.get(f"/t/{t.page_token}/status", HTTP_ACCEPT_LANGUAGE="fr")
    assert r["Content-Language"] == "de" and words("de")[0] in r.content.decode()


@pytest.mark.browser
def test_it_switches_language_in_the_browser_and_stays_on_the_page(
    public_url: str, merchant: Any, device_page: Any, request: Any
) -> None:
    t = plain_request(merchant, "portmone")
    page = device_page("phone", "en")
    page.goto(f"{public_url}/t/{t.page_token}/")
    assert page.locator("html").get_attribute("lang") == "en"
    current = page.locator("[aria-current]").first
    assert current.inner_text().strip() == "English"

    page.get_by_role("button", name="Українська").click()
    page.wait_for_function("() => document.documentElement.lang === 'uk'")
    assert page.url == f"{public_url}/t/{t.page_token}/"
    assert words("uk")[1] in page.inner_text("body")
    assert page.locator("[aria-current]").first.inner_text().strip() == "Українська"
    snap(page, request, "phone-uk")
    axe.assert_no_serious(page, "the Ukrainian page")

    # The choice sticks: the next visit (same browser) is Ukrainian without asking again.
    page.goto(f"{public_url}/t/{t.page_token}/")
    assert page.locator("html").get_attribute("lang") == "uk"
