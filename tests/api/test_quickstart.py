"""The quick start page's snippets run as shown against a live portal and the CorePass
sandbox: create a verification, read its status, cancel it."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from kyc.models import Membership, TransferRequest
from kyc.status import Status
from providers.corepass.coreid import is_valid
from tests import factories
from tests.corepass.conftest import make_account

pytestmark = pytest.mark.django_db(transaction=True)


def _page(merchant: Any, host: str, role: str = Membership.Role.VIEWER) -> str:
    c = Client()
    c.force_login(factories.staff_user(merchant, role=role))
    r = c.get("/quickstart/", HTTP_HOST=host)
    assert r.status_code == 200
    return r.content.decode()


def _snippet(page: str, name: str) -> str:
    found = re.search(rf'<pre id="snippet-{name}">(.*?)</pre>', page, re.S)
    assert found, name
    return html.unescape(found.group(1))


@pytest.fixture
def live(merchant: Any, public_url: str) -> dict[str, str]:
    from kyc import services

    make_account(merchant, url=f"{public_url}/sandbox/corepass")
    _, key = services.api_key_create(merchant=merchant, name="quickstart")
    page = _page(merchant, urlsplit(public_url).netloc)
    return {"page": page, "key": key, "url": public_url}


def test_it_shows_this_portals_address_and_a_coreid_the_sandbox_accepts(merchant: Any) -> None:
    page = _page(merchant, "localhost:8443")
    assert 'id="base-url">http://localhost:8443<' in page
    coreid = re.search(r'id="coreid-value">(\w+)<', page)
    assert coreid and is_valid(coreid.group(1))
    assert f'"coreid": "{coreid.group(1)}"' in _snippet(page, "curl")
    # a viewer is not sent to pages they cannot open
    assert 'href="/keys/"' not in page and 'href="/webhooks/"' not in page
    owner_page = _page(merchant, "localhost:8443", Membership.Role.OWNER)
    assert 'href="/keys/"' in owner_page  # control


def test_it_runs_the_python_snippet_as_shown(live: dict[str, str]) -> None:
    run = subprocess.run(
        [sys.executable, "-c", _snippet(live["page"], "python")],
        env={**os.environ, "API_KEY": live["key"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert f"Send the customer to {live['url']}/t/" in run.stdout
    assert "Status: pending\nStatus: cancelled\n" in run.stdout
    assert TransferRequest.objects.get().status == Status.CANCELLED


def test_it_runs_the_curl_snippet_with_your_key(live: dict[str, str]) -> None:
    if not shutil.which("curl"):
        pytest.fail("curl is not installed (apt-get install curl)")
    script = _snippet(live["page"], "curl").replace("API_KEY=kp_...", f"API_KEY={live['key']}")
    run = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    transfer = TransferRequest.objects.get()
    assert transfer.status == Status.CANCELLED and transfer.deep_link
    assert f'"id":"{transfer.pk}"' in run.stderr  # the create answer, shown by tee
    assert '"status":"cancelled"' in run.stdout
