"""Learning the outcome by asking Portmone: facts pulled on approval, plain endings,
token renewed once, a second 401 stops with a clear error."""

import datetime as dt
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from kyc.models import IdentityField, InboundEvent, TransferRequest
from providers.portmone import sandbox, services, tasks
from tests.portmone.conftest import as_json, payload


@pytest.fixture
def transfer(api, account) -> TransferRequest:
    r = api.post(
        "/api/v1/transfers/",
        {"provider": "portmone", "reference": "cust-1", "items": ["age_over_18", "full_name"]},
        format="json",
    )
    assert r.status_code == 201, r.content
    return TransferRequest.objects.get(pk=r.json()["id"])


def _phone(client, t: TransferRequest, action: str) -> None:
    r = client.post(f"/sandbox/portmone/phone/{t.provider_ref}/", {"action": action})
    assert r.status_code == 302


def _check(t: TransferRequest, capture) -> str:
    with capture(execute=True):
        return services.transfer_check(transfer_id=t.pk)


@pytest.mark.django_db
def test_it_stays_pending_until_the_customer_answers(transfer, django_capture_on_commit_callbacks):
    assert _check(transfer, django_capture_on_commit_callbacks) == "pending"
    assert not IdentityField.objects.exists()


@pytest.mark.django_db
def test_it_pulls_and_stores_the_facts_encrypted_after_approval(
    transfer, api, client, django_capture_on_commit_callbacks
) -> None:
    _phone(client, transfer, "approve")
    assert _check(transfer, django_capture_on_commit_callbacks) == "completed"
    values = {f.key: f.value for f in IdentityField.objects.filter(transfer=transfer)}
    assert values == {"age_over_18": "true", "full_name": "Olena Kovalenko"}
    with connection.cursor() as cur:
        cur.execute("SELECT value FROM kyc_identityfield")
        raw = " ".join(row[0] for row in cur.fetchall())
    assert "Olena" not in raw and raw.startswith("fernet:")
    data = api.get(f"/api/v1/transfers/{transfer.pk}/").json()
    assert data["status"] == "completed"
    assert {d["key"]: d["value"] for d in data["data"]}["full_name"] == "Olena Kovalenko"
    assert [e["provider_status"] for e in data["events"]][-2:] == ["approved", "facts_received"]


@pytest.mark.django_db
def test_it_never_pulls_twice_when_checked_again(
    transfer, client, django_capture_on_commit_callbacks
) -> None:
    _phone(client, transfer, "approve")
    _check(transfer, django_capture_on_commit_callbacks)
    events = transfer.events.count()
    assert _check(transfer, django_capture_on_commit_callbacks) == "completed"
    assert transfer.events.count() == events


@pytest.mark.parametrize(
    ("action", "status", "words"),
    [
        ("decline", "declined", "Nothing was shared with"),
        ("expire", "expired", "This link has expired"),
    ],
)
@pytest.mark.django_db
def test_it_ends_declined_and_expired_requests_with_plain_words(
    transfer, client, django_capture_on_commit_callbacks, action, status, words
) -> None:
    _phone(client, transfer, action)
    assert _check(transfer, django_capture_on_commit_callbacks) == status
    r = client.get(f"/t/{transfer.page_token}/status")
    assert r.status_code == 286
    body = r.content.decode()
    # The customer's words, never the provider's detail ("no facts were shared" is for staff).
    assert words in body and "no facts were shared" not in body
    assert not IdentityField.objects.exists()


@pytest.mark.django_db
def test_it_renews_an_expired_token_once(
    transfer, account, client, django_capture_on_commit_callbacks
) -> None:
    _phone(client, transfer, "approve")
    account.refresh_from_db()
    old = account.state["token"]
    sandbox.expire_all_tokens()  # Portmone forgets the cached token: the next call is a 401
    before = sandbox.stats()
    assert _check(transfer, django_capture_on_commit_callbacks) == "completed"
    after = sandbox.stats()
    assert after["issued"] - before["issued"] == 1
    assert after["refused"] - before["refused"] == 1
    account.refresh_from_db()
    assert account.state["token"] != old and account.last_error == ""


@pytest.mark.django_db
def test_it_renews_a_token_past_its_expiry_without_waiting_for_a_401(
    transfer, account, django_capture_on_commit_callbacks
) -> None:
    account.refresh_from_db()
    past = (timezone.now() - dt.timedelta(seconds=1)).isoformat()
    account.state = {**account.state, "token_expires_at": past}
    account.save()
    before = sandbox.stats()
    assert _check(transfer, django_capture_on_commit_callbacks) == "pending"
    after = sandbox.stats()
    assert (after["issued"] - before["issued"], after["refused"] - before["refused"]) == (1, 0)


@pytest.mark.django_db
def test_it_stops_with_a_clear_error_after_a_second_401(
    transfer, account, staff_client, client, django_capture_on_commit_callbacks
) -> None:
    sandbox.configure(reject_tokens=True)  # credentials revoked: every token is refused
    before = sandbox.stats()
    assert _check(transfer, django_capture_on_commit_callbacks) == "failed"
    after = sandbox.stats()
    # Bounded: the cached token, one renewal, then stop.
    assert (after["issued"] - before["issued"], after["refused"] - before["refused"]) == (1, 2)
    transfer.refresh_from_db()
    assert transfer.failure_code == "provider_auth_failed"
    assert "refused the partner token twice" in transfer.status_detail
    account.refresh_from_db()
    assert "refused the partner token twice" in account.last_error
    assert account.state["token"] == ""
    page = staff_client.get("/providers/portmone/").content.decode()
    assert "Last error: Portmone refused the partner token twice" in page
    assert "Authentication error" in page
    # Nothing more happens on later checks: no loop against Portmone.
    assert _check(transfer, django_capture_on_commit_callbacks) == "failed"
    assert sandbox.stats() == after
    assert client.get(f"/t/{transfer.page_token}/status").status_code == 286


@pytest.mark.django_db
def test_it_clears_the_error_once_a_token_is_issued_again(
    transfer, account, django_capture_on_commit_callbacks
) -> None:
    services.account_auth_failed(account_id=account.pk, message="old failure")
    assert _check(transfer, django_capture_on_commit_callbacks) == "pending"
    account.refresh_from_db()
    assert account.last_error == "" and account.state["auth_error"] == ""


@pytest.mark.django_db
def test_it_keeps_the_request_open_when_portmone_is_down(
    transfer, django_capture_on_commit_callbacks
) -> None:
    from kyc.errors import RetryableError

    with mock.patch("providers.portmone.client.get_status", side_effect=RetryableError("down")):
        assert _check(transfer, django_capture_on_commit_callbacks) == "retry"
    transfer.refresh_from_db()
    assert transfer.status == "pending"


@pytest.mark.django_db
def test_it_checks_once_at_a_time(transfer) -> None:
    from django.core.cache import cache

    cache.add(f"portmone-check:{transfer.pk}", 1, 60)
    assert services.transfer_check(transfer_id=transfer.pk) == "busy"


@pytest.mark.django_db
def test_it_checks_from_the_page_poll_by_token(transfer, client) -> None:
    _phone(client, transfer, "approve")
    assert tasks.check_transfer_by_page_token(transfer.page_token) == "completed"
    assert tasks.check_transfer_by_page_token("nope") == "missing"


@pytest.mark.django_db
def test_it_backs_off_within_the_countdown_limit(settings) -> None:
    waits = [services.poll_backoff(n) for n in range(services.MAX_POLLS)]
    assert waits[:4] == [2, 4, 8, 16]
    assert max(waits) <= min(settings.CELERY_MAX_COUNTDOWN, services.POLL_MAX_INTERVAL)
    settings.CELERY_MAX_COUNTDOWN = 5
    assert services.poll_backoff(10) == 5


@pytest.mark.django_db
def test_it_reschedules_the_poll_chain_until_terminal(transfer, client) -> None:
    with mock.patch.object(tasks.poll_transfer, "apply_async") as later:
        assert tasks.poll_transfer(str(transfer.pk), 3) == "pending"
        later.assert_called_once_with((str(transfer.pk), 4), countdown=16)
        later.reset_mock()
        assert tasks.poll_transfer(str(transfer.pk), services.MAX_POLLS - 1) == "pending"
        later.assert_not_called()
        _phone(client, transfer, "decline")
        assert tasks.poll_transfer(str(transfer.pk), 0) == "declined"
        later.assert_not_called()


@pytest.mark.django_db
def test_it_reconciles_requests_nobody_checked_lately(
    transfer, django_capture_on_commit_callbacks
) -> None:
    TransferRequest.objects.filter(pk=transfer.pk).update(
        last_heard_at=timezone.now() - dt.timedelta(minutes=5)
    )
    with mock.patch.object(tasks.check_transfer, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            assert services.reconcile() == 1
        delay.assert_called_once_with(str(transfer.pk))
    TransferRequest.objects.filter(pk=transfer.pk).update(last_heard_at=timezone.now())
    assert services.reconcile() == 0


# --- the optional webhook: stored first, a hint confirmed by asking Portmone ----------


def _hint(name: str, share_id: str) -> bytes:
    body = as_json(payload(name))
    body["id"] = share_id
    import json

    return json.dumps(body).encode()


@pytest.mark.django_db
def test_it_stores_a_webhook_hint_then_confirms_it_with_portmone(
    transfer, account, client, django_capture_on_commit_callbacks
) -> None:
    _phone(client, transfer, "approve")
    body = _hint("hint_approved", transfer.provider_ref)
    with mock.patch("kyc.tasks.process_inbound.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            r = client.post(
                f"/hooks/portmone/{account.webhook_token}/", body, content_type="application/json"
            )
        assert r.status_code == 202
        event = InboundEvent.objects.get(provider="portmone")
        delay.assert_called_once_with(event.pk)
    assert event.body == body and event.state == "received"
    with django_capture_on_commit_callbacks(execute=True):
        services.inbound_process(event_id=event.pk)
    event.refresh_from_db()
    transfer.refresh_from_db()
    assert (event.state, event.kind, event.transfer_id) == (
        "processed",
        "share.approved",
        transfer.pk,
    )
    assert transfer.status == "completed"
    again = client.post(
        f"/hooks/portmone/{account.webhook_token}/", body, content_type="application/json"
    )
    assert again.status_code == 200 and InboundEvent.objects.filter(state="duplicate").count() == 1


@pytest.mark.django_db
def test_it_does_not_trust_a_hint_that_portmone_contradicts(
    transfer, account, client, django_capture_on_commit_callbacks
) -> None:
    body = _hint("hint_declined", transfer.provider_ref)  # the phone never declined
    with mock.patch("kyc.tasks.process_inbound.delay"):
        client.post(
            f"/hooks/portmone/{account.webhook_token}/", body, content_type="application/json"
        )
    event = InboundEvent.objects.get(provider="portmone")
    with django_capture_on_commit_callbacks(execute=True):
        services.inbound_process(event_id=event.pk)
    transfer.refresh_from_db()
    assert transfer.status == "pending"


@pytest.mark.django_db
def test_it_refuses_bad_webhook_deliveries_but_keeps_them(account, client) -> None:
    url = f"/hooks/portmone/{account.webhook_token}/"
    r = client.post(url, b"not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["message"] == "body is not JSON"
    r = client.post("/hooks/portmone/unknown/", b"{}", content_type="application/json")
    assert r.status_code == 404
    assert list(InboundEvent.objects.values_list("state", flat=True)) == ["refused", "refused"]
    r = client.post(url, _hint("hint_approved", "no-such-id"), content_type="application/json")
    event = InboundEvent.objects.get(state="received")
    services.inbound_process(event_id=event.pk)
    event.refresh_from_db()
    assert event.state == "ignored"


@pytest.mark.django_db
def test_it_sends_the_webhook_url_only_when_the_merchant_asks(api, account) -> None:
    account.settings = {**account.settings, "webhook_enabled": True}
    account.save()
    r = api.post("/api/v1/transfers/", {"provider": "portmone", "reference": "w"}, format="json")
    t = TransferRequest.objects.get(pk=r.json()["id"])
    assert sandbox._load(t.provider_ref)["callback_url"].endswith(
        f"/hooks/portmone/{account.webhook_token}/"
    )


@pytest.mark.django_db
def test_it_starts_from_the_staff_page_and_shows_an_auth_failure_there(
    staff_client, account, django_capture_on_commit_callbacks
) -> None:
    r = staff_client.post(
        "/transfers/new/",
        {
            "provider": "portmone",
            "reference": "desk-1",
            "items_portmone": ["citizenship", "full_name"],
        },
    )
    assert r.status_code == 302, r.content
    t = TransferRequest.objects.get(reference="desk-1")
    assert t.items == ["citizenship", "full_name"] and t.status == "pending"
    sandbox.configure(reject_tokens=True)
    _check(t, django_capture_on_commit_callbacks)
    page = staff_client.get(r["Location"]).content.decode()
    assert "Why:</strong> Portmone refused the partner token twice" in page
