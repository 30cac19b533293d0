"""A finish asks Incode (status, score, OCR, approve) with no lock on the request and no
open transaction; two finishers at the same time apply Incode's answer once."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection, connections, transaction

from kyc import http
from kyc.models import IdentityField, TransferRequest
from kyc.status import Status
from providers.incode import services as incode_services
from tests.conftest import row_locked
from tests.incode.conftest import account_for, finish_on_phone, start_request


def _row_locked(pk: Any) -> bool:
    return row_locked(TransferRequest, pk)


@pytest.fixture
def finished(api: Any, merchant: Any, sandbox: str, eager: None) -> TransferRequest:
    """A request whose customer finished on the phone (no webhook configured: nothing yet)."""
    account_for(merchant, sandbox)
    t = start_request(api, f"lock-{threading.get_ident()}")
    finish_on_phone(t.deep_link, "pass")
    return t


def test_it_calls_incode_with_no_lock_on_the_request(
    finished: TransferRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, bool, bool]] = []
    real = http.call

    def watched(method: str, url: str, **kwargs: Any) -> Any:
        if kwargs.get("provider") == "incode":
            seen.append((urlsplit(url).path, _row_locked(finished.pk), connection.in_atomic_block))
        return real(method, url, **kwargs)

    monkeypatch.setattr(http, "call", watched)
    # control: the probe does see the row lock a finisher used to hold
    with transaction.atomic():
        TransferRequest.objects.select_for_update().get(pk=finished.pk)
        assert _row_locked(finished.pk)
    assert not _row_locked(finished.pk)

    assert incode_services.onboarding_finish(transfer_id=finished.pk) == Status.COMPLETED

    paths = {path.rsplit("/sandbox/incode", 1)[-1] for path, _, _ in seen}
    assert {
        "/omni/get/onboarding/status",
        "/omni/get/score",
        "/omni/get/ocr-data",
        "/omni/process/approve",
        "/omni/get/images",
    } <= paths
    for path, locked, in_transaction in seen:
        assert not locked, path
        if not path.endswith("/executive/log-in"):  # a login runs under the account's lock
            assert not in_transaction, path
    finished.refresh_from_db()
    assert finished.status == Status.COMPLETED
    assert incode_services.CLAIM_KEY not in finished.provider_data


def _race(t: TransferRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], list[str]]:
    """Finisher "a" is held at its score call while finisher "b" runs from start to end."""
    real = http.call
    held, release = threading.Event(), threading.Event()
    paths_b: list[str] = []

    def gated(method: str, url: str, **kwargs: Any) -> Any:
        if threading.current_thread().name == "finisher-a":
            if "/omni/get/score" in url:
                held.set()
                release.wait(20)
        else:
            paths_b.append(urlsplit(url).path)
        return real(method, url, **kwargs)

    monkeypatch.setattr(http, "call", gated)
    results: dict[str, str] = {}

    def run_a() -> None:
        try:
            results["a"] = incode_services.onboarding_finish(transfer_id=t.pk)
        finally:
            connections.close_all()

    a = threading.Thread(target=run_a, name="finisher-a")
    a.start()
    try:
        assert held.wait(20)
        results["b"] = incode_services.onboarding_finish(transfer_id=t.pk)
    finally:
        release.set()
        a.join(30)
    return results, paths_b


def _applied_once(t: TransferRequest) -> None:
    t.refresh_from_db()
    assert t.status == Status.COMPLETED
    assert t.events.filter(status=Status.COMPLETED).count() == 1
    assert t.events.filter(kind="data").count() == 1
    keys = list(IdentityField.objects.filter(record=t.record).values_list("key", flat=True))
    assert keys and len(keys) == len(set(keys))  # each field stored once
    assert incode_services.CLAIM_KEY not in t.provider_data


def test_it_lets_one_of_two_concurrent_finishers_work(
    finished: TransferRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    results, paths_b = _race(finished, monkeypatch)
    assert results == {"a": Status.COMPLETED, "b": "busy"}
    assert paths_b == []  # the second one did not even ask Incode
    _applied_once(finished)


def test_it_applies_once_when_both_finishers_asked_incode(
    finished: TransferRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A claim that lapsed at once (a worker that died mid-finish looks the same):
    # both ask Incode; the one that applies first wins, the other changes nothing.
    monkeypatch.setattr(incode_services, "FINISH_LEASE", dt.timedelta(0))
    results, paths_b = _race(finished, monkeypatch)
    assert results == {"a": "already-decided", "b": Status.COMPLETED}
    assert any(p.endswith("/omni/get/score") for p in paths_b)
    _applied_once(finished)
