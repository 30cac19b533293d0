"""Idempotency-Key on POSTs: a retry gets the first answer and starts nothing twice."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from kyc import services, tasks
from kyc.models import IdempotentRequest, TransferRequest
from tests.api.conftest import key_client, pending_transfer, start_body

URL = "/api/v1/transfers/"


def _post(api: Any, body: dict[str, Any], key: str | None = "key-1") -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post(URL, body, format="json", **headers)


@pytest.mark.django_db
def test_it_replays_the_first_answer_for_the_same_key_and_body(
    merchant: Any, connector: Any
) -> None:
    api = key_client(merchant)
    first = _post(api, start_body())
    again = _post(api, start_body())
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.content == first.content  # the same bytes, not a re-rendering
    assert "Idempotent-Replayed" not in first and again["Idempotent-Replayed"] == "true"
    assert TransferRequest.objects.count() == 1 and connector.qr_calls == 1
    # the same body written differently (key order) is the same body
    reordered = dict(reversed(list(start_body().items())))
    assert _post(api, reordered).json()["id"] == first.json()["id"]
    # control: without a key, a POST is a new request every time
    assert _post(api, start_body(), key=None).json()["id"] != first.json()["id"]
    assert TransferRequest.objects.count() == 2 and connector.qr_calls == 2


@pytest.mark.django_db
def test_it_refuses_the_same_key_with_another_body_or_route(merchant: Any, connector: Any) -> None:
    api = key_client(merchant)
    assert _post(api, start_body()).status_code == 201
    other = _post(api, start_body(reference="customer-43"))
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert "different request" in other.json()["detail"]
    transfer = pending_transfer(merchant)
    cancel = api.post(f"{URL}{transfer.pk}/cancel/", HTTP_IDEMPOTENCY_KEY="key-1")
    assert cancel.status_code == 422
    transfer.refresh_from_db()
    assert transfer.status == "pending"
    assert TransferRequest.objects.filter(reference="customer-43").count() == 0
    assert connector.qr_calls == 1


@pytest.mark.django_db
def test_it_keeps_keys_per_api_key(merchant: Any, connector: Any) -> None:
    mine, theirs = key_client(merchant), key_client(merchant)
    a = _post(mine, start_body())
    b = _post(theirs, start_body())
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"] and "Idempotent-Replayed" not in b
    assert IdempotentRequest.objects.filter(key="key-1").count() == 2


@pytest.mark.django_db
def test_it_stores_a_refusal_answer_too_and_replays_a_cancel(merchant: Any) -> None:
    api = key_client(merchant)
    bad = {"provider": "corepass", "reference": "x", "coreid": "nope"}
    first = _post(api, bad, key="bad-1")
    assert first.status_code == 400 and first.json()["code"] == "invalid"
    assert _post(api, bad, key="bad-1")["Idempotent-Replayed"] == "true"
    transfer = pending_transfer(merchant)
    one = api.post(f"{URL}{transfer.pk}/cancel/", HTTP_IDEMPOTENCY_KEY="c-1")
    two = api.post(f"{URL}{transfer.pk}/cancel/", HTTP_IDEMPOTENCY_KEY="c-1")
    assert one.status_code == two.status_code == 200 and two.json() == one.json()
    assert two["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_it_refuses_a_key_it_cannot_keep(merchant: Any, connector: Any) -> None:
    api = key_client(merchant)
    for key in ("x" * 256, "line\tbreak", "ключ"):
        r = _post(api, start_body(), key=key)
        assert r.status_code == 400, key
        assert "Idempotency-Key" in r.json()["errors"]
    assert not TransferRequest.objects.exists()
    assert _post(api, start_body(), key="x" * 255).status_code == 201  # control


@pytest.mark.django_db
def test_it_stores_nothing_for_a_request_refused_before_it_ran(
    merchant: Any, connector: Any
) -> None:
    """A refused request (no write scope) is not stored: the same key works afterwards."""
    reader = key_client(merchant, "read")
    assert _post(reader, start_body()).status_code == 403
    assert not IdempotentRequest.objects.exists()


@pytest.mark.django_db
def test_it_forgets_answers_after_24_hours_with_the_daily_task(
    merchant: Any, connector: Any
) -> None:
    api = key_client(merchant)
    first = _post(api, start_body(), key="old")
    _post(api, start_body(), key="fresh")
    IdempotentRequest.objects.filter(key="old").update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    tasks.erase_expired_pii()
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["fresh"]
    assert services.idempotent_requests_purge() == 0  # nothing else is that old
    later = timezone.now() + dt.timedelta(hours=25)
    assert services.idempotent_requests_purge(now=later) == 1
    # past 24 h the key starts a new request
    assert _post(api, start_body(), key="old").json()["id"] != first.json()["id"]


def _race(api_key_header: str, body: dict[str, Any], n: int = 2) -> list[Any]:
    """n threads post the same request at once, each with its own DB connection."""
    from rest_framework.test import APIClient

    answers: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=api_key_header)
        barrier.wait()
        try:
            answers[i] = _post(c, body, key="race-1")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return answers


def _header(api: Any) -> str:
    return str(api._credentials["HTTP_AUTHORIZATION"])


@pytest.mark.django_db(transaction=True)
def test_it_makes_a_concurrent_duplicate_wait_for_the_first_answer(
    merchant: Any, connector: Any
) -> None:
    connector.delay = 1.0  # the provider takes its time while the duplicate arrives
    api = key_client(merchant)
    answers = _race(_header(api), start_body())
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert TransferRequest.objects.count() == 1 and connector.qr_calls == 1


@pytest.mark.django_db(transaction=True)
def test_it_answers_409_when_the_first_request_runs_too_long(
    merchant: Any, connector: Any, settings: Any
) -> None:
    settings.API_IDEMPOTENCY_WAIT_SECONDS = 0.3
    connector.delay = 2.0
    api = key_client(merchant)
    answers = _race(_header(api), start_body())
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409]
    late = next(a for a in answers if a.status_code == 409)
    assert late.json()["code"] == "idempotency_in_progress"
    assert TransferRequest.objects.count() == 1 and connector.qr_calls == 1
    # once the first is done, the same retry gets its answer
    again = _post(api, start_body(), key="race-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_it_releases_the_key_when_the_request_dies_with_a_server_error(
    merchant: Any, connector: Any
) -> None:
    api = key_client(merchant)
    real = connector.qrcode
    connector.qrcode = mock.Mock(side_effect=RuntimeError("bug"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        _post(api, start_body(), key="dies")
    assert not IdempotentRequest.objects.filter(key="dies").exists()
    connector.qrcode = real  # type: ignore[method-assign]
    again = _post(api, start_body(), key="dies")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
