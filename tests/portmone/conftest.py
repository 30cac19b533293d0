"""Portmone fixtures: the sandbox reached through the Django test client (fast, no
live server) for db tests, an enabled account pointed at it, and one on the live sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from requests.structures import CaseInsensitiveDict

from kyc import http
from kyc.models import ProviderAccount
from providers.portmone.provider import PortmoneProvider

SANDBOX = "http://localhost/sandbox/portmone/"  # a host the settings form accepts
PAYLOADS = Path(__file__).parent / "payloads"


class DjangoTransport(requests.adapters.BaseAdapter):
    """Sends what the client module sends to the sandbox views, in-process."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        headers = {
            "HTTP_" + k.upper().replace("-", "_"): v
            for k, v in request.headers.items()
            if k.lower() not in ("content-type", "content-length", "host")
        }
        body = request.body or b""
        resp = Client().generic(
            request.method or "GET",
            url.path + (f"?{url.query}" if url.query else ""),
            data=body.encode() if isinstance(body, str) else body,
            content_type=request.headers.get("Content-Type", ""),
            **headers,
        )
        out = requests.Response()
        out.status_code = resp.status_code
        out._content = resp.content
        out.headers = CaseInsensitiveDict(dict(resp.headers))
        out.url = request.url or ""
        out.request = request
        return out

    def close(self) -> None:
        pass


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[requests.Session]:
    # The in-process sandbox is the portal's own sandbox (PUBLIC_URL + /sandbox/portmone/).
    settings.PUBLIC_URL = "http://localhost"
    sess = http.session()
    sess.mount("http://localhost/", DjangoTransport())
    monkeypatch.setattr(http, "_shared", sess)
    yield sess


def make_account(merchant: Any, sandbox_url: str, **overrides: Any) -> ProviderAccount:
    """An enabled account with the settings the sandbox at `sandbox_url` accepts."""
    return ProviderAccount.objects.create(
        merchant=merchant,
        provider="portmone",
        enabled=True,
        settings={**PortmoneProvider().sandbox_settings(sandbox_url=sandbox_url), **overrides},
    )


@pytest.fixture
def account(merchant: Any, sandbox: Any) -> ProviderAccount:
    return make_account(merchant, SANDBOX)


@pytest.fixture
def live_account(merchant: Any, public_url: str) -> ProviderAccount:
    """An account on the sandbox served by live_server, for worker and browser tests."""
    return make_account(merchant, f"{public_url}/sandbox/portmone/")


def payload(name: str) -> bytes:
    """One stored delivery per event type."""
    return (PAYLOADS / f"{name}.json").read_bytes()


def as_json(raw: bytes) -> Any:
    return json.loads(raw)
