"""Writers of one merchant's chain at the same time, on PostgreSQL: the per-merchant lock
keeps the chain one line (without it, both would chain to the same entry: a fork)."""

from __future__ import annotations

import threading
import time
from typing import Any
from unittest import mock

import pytest
from django.db import connection

from kyc import audit
from kyc.audit import audit_write, chain_verify
from kyc.models import AuditEntry
from tests import factories

WRITERS = 4
EACH = 5


def _race(merchant: Any) -> list[BaseException]:
    """WRITERS threads, each with its own connection, write EACH entries at once; reading
    the chain's head is slowed down so that unserialised writers would overlap."""
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []
    real_head = audit._head

    def slow_head(merchant_id: int | None) -> str:
        head = real_head(merchant_id)
        time.sleep(0.05)
        return head

    def writer(n: int) -> None:
        try:
            start.wait(timeout=10)
            for i in range(EACH):
                audit_write(actor=None, merchant=merchant, action="race", object_id=f"{n}-{i}")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    with mock.patch.object(audit, "_head", slow_head):
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    return errors


@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_chain_when_writers_race() -> None:
    merchant = factories.MerchantFactory()
    assert _race(merchant) == []
    entries = list(AuditEntry.objects.filter(merchant=merchant).order_by("id"))
    assert len(entries) == WRITERS * EACH
    assert len({e.prev_hash for e in entries}) == len(entries)  # nobody shares a parent
    report = chain_verify(merchant)
    assert report.ok and report.checked == WRITERS * EACH
    assert [e.at for e in entries] == sorted(e.at for e in entries)  # chain order is time order


@pytest.mark.django_db(transaction=True)
def test_it_would_fork_without_the_lock() -> None:
    """The control: the same race with the lock taken away forks the chain, and the
    verification names it."""
    merchant = factories.MerchantFactory()
    with mock.patch.object(audit, "_lock", lambda merchant_id: None):
        assert _race(merchant) == []
    entries = list(AuditEntry.objects.filter(merchant=merchant).order_by("id"))
    assert len(entries) == WRITERS * EACH
    assert len({e.prev_hash for e in entries}) < len(entries)  # a fork
    assert not chain_verify(merchant).ok
