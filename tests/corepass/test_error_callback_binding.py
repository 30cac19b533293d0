"""An error callback speaks for one CoreID: sent to a request for another CoreID it is
refused (400) and kept for staff, and no confirmation task is queued."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from kyc.models import InboundEvent, TransferRequest
from providers.corepass import coreid
from tests.corepass.conftest import deliver, sample_transfer, stored

pytestmark = pytest.mark.django_db


def _another_coreid(user: str) -> str:
    body = "".join("0123456789abcdef"[(int(c, 16) + 1) % 16] for c in user[4:])
    other = user[:2] + coreid.check_digits(user[:2], body) + body
    assert coreid.is_valid(other) and other != user
    return other


def _send(client: Any, transfer: TransferRequest, payload: dict, capture: Any) -> Any:
    with mock.patch("kyc.tasks.process_inbound.delay") as delay:
        with capture(execute=True):
            r = deliver(client, transfer, "data", payload, now=payload["deadline"])
    return r, delay


@pytest.mark.parametrize("who", ["another CoreID", "the request's CoreID"])
def test_it_refuses_an_error_callback_for_another_coreid(
    client: Any, merchant: Any, django_capture_on_commit_callbacks: Any, who: str
) -> None:
    payload = stored("error")["payload"]
    subject = _another_coreid(payload["user"]) if who == "another CoreID" else payload["user"]
    transfer, _ = sample_transfer(merchant, "error", subject=subject)

    r, delay = _send(client, transfer, payload, django_capture_on_commit_callbacks)

    event = InboundEvent.objects.filter(transfer=transfer).latest("pk")
    transfer.refresh_from_db()
    assert transfer.status == "pending"  # a hint never moves the request by itself
    if who == "another CoreID":
        assert r.status_code == 400, r.content
        assert "CoreID" in r.json()["message"]
        assert event.state == InboundEvent.State.REFUSED and "CoreID" in event.error
        assert bytes(event.body)  # kept for staff, as received
        delay.assert_not_called()
    else:  # control: the same callback for its own CoreID is kept and confirmed by a task
        assert r.status_code == 200, r.content
        assert (event.kind, event.state) == ("error", InboundEvent.State.RECEIVED)
        delay.assert_called_once_with(event.pk)
