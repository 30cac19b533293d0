"""404, 410 and 500 in the customer page's style, never Django's debug pages."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.test import Client

from kyc.status import Status
from tests.customer.test_page_views import make

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("debug", [False, True])
def test_it_shows_its_own_404_for_an_unknown_link(
    merchant: Any, settings: Any, debug: bool
) -> None:
    settings.DEBUG = debug
    t = make(merchant)
    for url in ("/t/no-such-token/", "/t/no-such-token/status", f"/t/{t.page_token}x/"):
        r = Client().get(url)
        html = r.content.decode()
        assert r.status_code == 404, url
        assert "This link does not work" in html and 'id="error"' in html
        assert "Traceback" not in html and "URLconf" not in html and "Django" not in html
        assert t.page_token not in html and merchant.name not in html
        assert r["Cache-Control"] == "no-store"


def test_it_uses_the_same_404_for_any_unknown_url(settings: Any, db: Any) -> None:
    settings.DEBUG = False
    r = Client().get("/no/such/page/")
    assert r.status_code == 404 and "This link does not work" in r.content.decode()


def test_it_says_410_gone_for_an_expired_link_with_what_to_do(merchant: Any) -> None:
    merchant.restart_url = "https://shop.example/again"
    merchant.save()
    t = make(merchant, status=Status.EXPIRED)
    r = Client().get(f"/t/{t.page_token}/")
    assert r.status_code == 410
    assert "This link has expired" in r.content.decode()
    assert 'href="https://shop.example/again"' in r.content.decode()
    assert Client().get(f"/t/{make(merchant).page_token}/").status_code == 200  # control


def test_it_shows_its_own_500_page_without_details(merchant: Any, settings: Any) -> None:
    settings.DEBUG = False
    t = make(merchant)
    client = Client(raise_request_exception=False)
    with mock.patch("kyc.views._load", side_effect=RuntimeError("secret internals 127.0.0.1")):
        r = client.get(f"/t/{t.page_token}/", HTTP_ACCEPT_LANGUAGE="en")
    html = r.content.decode()
    assert r.status_code == 500
    assert "Something went wrong on our side" in html and '<html lang="en">' in html
    assert "secret internals" not in html and "127.0.0.1" not in html and "Traceback" not in html
