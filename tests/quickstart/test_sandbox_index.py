"""`/sandbox/` lists every sandbox's consoles and phone pages when SANDBOX is on, and is
a 404 when it is off; `manage.py demo` prints a CoreID the CorePass sandbox knows."""

from __future__ import annotations

import importlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import clear_url_caches

from kyc import registry
from providers.corepass import sandbox as corepass_sandbox
from providers.corepass.coreid import is_valid, sample_coreid

pytestmark = pytest.mark.django_db


def test_it_lists_every_sandbox_console_and_phone_page(client: Any) -> None:
    resp = client.get("/sandbox/")
    assert resp.status_code == 200
    html = resp.content.decode()
    for provider in registry.providers():
        if provider.sandbox:
            assert f'id="sandbox-{provider.name}"' in html and provider.label in html
    # Consoles are links, and each link answers.
    for url in (
        "/sandbox/incode/console/",
        "/sandbox/portmone/",
        "/sandbox/sunbird/",
        "/sandbox/blockpass/",
    ):
        assert f'href="{url}"' in html
        assert client.get(url).status_code == 200, url
    for phone in (
        "/sandbox/corepass/phone/&lt;rid&gt;/",
        "/sandbox/incode/phone/&lt;url_id&gt;/",
        "/sandbox/portmone/phone/&lt;share_id&gt;/",
    ):
        assert phone in html
    assert sample_coreid() in html
    assert "/sandbox/corepass/api/v1/kyc/qrcode" in html  # the vendor API it plays


@pytest.fixture
def sandbox_off(settings: Any) -> Iterator[None]:
    import portal.urls

    settings.SANDBOX = False
    importlib.reload(portal.urls)
    clear_url_caches()
    try:
        yield
    finally:
        settings.SANDBOX = True
        importlib.reload(portal.urls)
        clear_url_caches()


def test_it_is_a_404_when_sandbox_is_off(client: Any, sandbox_off: None) -> None:
    assert client.get("/sandbox/").status_code == 404
    assert client.get("/sandbox/portmone/").status_code == 404
    assert client.get("/healthz").status_code in (200, 503)  # the rest is still served


def test_it_gives_a_sample_coreid_the_corepass_sandbox_knows(client: Any) -> None:
    coreid = corepass_sandbox.sample_coreid()
    assert coreid == sample_coreid() and is_valid(coreid)
    assert not is_valid(coreid[:-1] + ("3" if coreid[-1] != "3" else "4"))  # check digits matter
    resp = client.post(
        "/sandbox/corepass/api/v1/blockchain/verified",
        data={"user": coreid, "items": ["SH_EMAIL"]},
        content_type="application/json",
    )
    assert resp.status_code == 200 and resp.json()["verifiedItems"] == ["SH_EMAIL"]


def test_it_prints_the_sample_coreid_and_the_sandbox_index_in_demo(
    settings: Any, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("demo", stdout=out)
    text = out.getvalue()
    assert f"Sample CoreID (the CorePass sandbox knows it): {sample_coreid()}" in text
    assert f"{settings.PUBLIC_URL}/sandbox/" in text
    settings.SANDBOX = False
    out = io.StringIO()
    call_command("demo", stdout=out)
    assert "Sample CoreID" not in out.getvalue()  # no sandbox, no sandbox hint


@pytest.mark.browser
def test_a_newcomer_finds_every_sandbox_console_from_the_index(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/sandbox/")
    assert page.locator("h1").inner_text() == "Provider sandboxes"
    assert page.locator("section.card h2").count() == sum(
        1 for p in registry.providers() if p.sandbox
    )
    page.get_by_role("link", name="Console").first.click()
    page.wait_for_load_state()
    assert "/sandbox/" in page.url and page.url != f"{live_server.url}/sandbox/"
    page.go_back()
    assert sample_coreid() in page.content()
