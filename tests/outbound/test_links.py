"""Deep links (from the provider) and return URLs (from the merchant) become links on the
customer page only when https:, the provider's app scheme or the portal's own sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.links import safe_href
from tests import factories

HOSTILE = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "http://phish.example/login",
    "ftp://files.example/x",
    "//phish.example/x",
    "https://user@phish.example/",
    'https://ok.example/"><script>alert(1)</script>',
    "corepass:kyc?x",  # another provider's app scheme
    "",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_it_refuses_anything_but_https_and_app_schemes(url: str) -> None:
    assert safe_href(url, "incode") == ""


def test_it_accepts_https_the_providers_app_scheme_and_the_own_sandbox(settings: Any) -> None:
    assert safe_href("https://id.incodesmile.com/abc", "incode") == "https://id.incodesmile.com/abc"
    assert safe_href("corepass:kyc?data=1", "corepass") == "corepass:kyc?data=1"
    settings.SANDBOX, settings.PUBLIC_URL = True, "http://127.0.0.1:8000"
    own = "http://127.0.0.1:8000/sandbox/corepass/phone/r1/"
    assert safe_href(own, "corepass") == own
    assert safe_href("http://127.0.0.1:8000/admin/", "corepass") == ""
    settings.SANDBOX = False
    assert safe_href(own, "corepass") == ""


def customer_page(client: Any, merchant: Any, **transfer: Any) -> str:
    """The customer page of an Incode request of customer "r" with these values."""
    record = factories.KYCRecordFactory(merchant=merchant, reference="r")
    t = factories.TransferRequestFactory(record=record, provider="incode", **transfer)
    return client.get(f"/t/{t.page_token}/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("deep_link", "rendered"),
    [
        ("javascript:alert(1)", False),
        ("http://phish.example/", False),
        ("https://id.incodesmile.com/abc", True),
    ],
)
def test_it_renders_the_deep_link_button_only_for_a_safe_link(
    client: Any, merchant: Any, deep_link: str, rendered: bool
) -> None:
    page = customer_page(client, merchant, deep_link=deep_link, status="pending")
    assert ('id="deep-link"' in page) is rendered
    assert "javascript:" not in page and "phish.example" not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("redirect_url", "rendered"),
    [
        ("http://shop.example/done", False),
        ("ftp://shop.example/done", False),
        ("https://shop.example/done", True),
    ],
)
def test_it_renders_the_return_link_only_for_https(
    client: Any, merchant: Any, redirect_url: str, rendered: bool
) -> None:
    page = customer_page(client, merchant, redirect_url=redirect_url, status="completed")
    assert (f'href="{redirect_url}"' in page) is rendered
    assert ">Continue</a>" in page if rendered else ">Continue</a>" not in page
