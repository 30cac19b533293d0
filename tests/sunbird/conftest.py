"""Sunbird fixtures: an account pointed at the in-process sandbox, and a run factory."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from kyc.models import ProviderAccount
from providers.sunbird import services
from providers.sunbird.provider import SunbirdProvider
from providers.sunbird.sandbox import ROOT_ORGS

ROOT_ORG = ROOT_ORGS[0]["id"]


@pytest.fixture
def account(merchant: Any, public_url: str) -> ProviderAccount:
    # public_url: the sandbox is the portal's own (the only loopback the outbound policy allows).
    return ProviderAccount.objects.create(
        merchant=merchant,
        provider="sunbird",
        enabled=True,
        settings=SunbirdProvider().sandbox_settings(sandbox_url=f"{public_url}/sandbox/sunbird"),
    )


@pytest.fixture
def sandbox(live_server: Any) -> Any:
    """Talk to the sandbox console: size batches, read what it was asked."""

    class Console:
        base = f"{live_server.url}/sandbox/sunbird"

        def batch(self, batch_id: str, **cfg: Any) -> dict[str, Any]:
            return requests.post(f"{self.base}/console/batch/{batch_id}", json=cfg).json()

        def counts(self) -> dict[str, int]:
            return requests.get(f"{self.base}/console/state").json()["counts"]

        def calls(self) -> list[dict[str, Any]]:
            return requests.get(f"{self.base}/console/state").json()["calls"]

    return Console()


@pytest.fixture
def fast(settings: Any, request: pytest.FixtureRequest) -> Any:
    """Sunbird's waits shortened for runs against the live sandbox: poll every 0.1 s, and
    the test module's FAST_SECONDS (setting name -> seconds). Tests may set more on it."""
    settings.SUNBIRD_POLL_SECONDS = 0.1
    for name, seconds in getattr(request.module, "FAST_SECONDS", {}).items():
        setattr(settings, name, seconds)
    return settings


def make_run(
    merchant: Any, *, batch_id: str = "batch-200", enqueue: bool = False, **kw: Any
) -> Any:
    args: dict[str, Any] = {
        "merchant": merchant,
        "root_org_id": ROOT_ORG,
        "course_id": "do_1128318628712038401",
        "batch_id": batch_id,
        "sign_keys": [f"sign-{batch_id}"],
        "enc_keys": [f"enc-{batch_id}"],
        "issuer_name": "Gujarat Council of Educational Research and Training",
        "issuer_url": "https://gcert.gujarat.gov.in/gcert/",
        "html_template_url": "https://example.org/v1/certificate.zip",
        "signatories": [{"name": "CEO Gujarat", "id": "CEO", "designation": "CEO"}],
        "notify_template": {"subject": "Course completion certificate"},
        "enqueue": enqueue,
    }
    args.update(kw)
    return services.run_create(**args)
