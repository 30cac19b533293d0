"""A merchant webhook URL's account, kept per process for WEBHOOK_ACCOUNT_CACHE_SECONDS.

What must hold: a repeat delivery costs no account query; a change made in this process
(new secret, disabled, deleted) applies to the very next delivery; a change made
elsewhere applies once the seconds have passed; 0 turns the copy off.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from kyc import intake
from kyc.models import InboundEvent, ProviderAccount
from tests.contract.deliveries import blockpass_account, blockpass_resolved, blockpass_webhook, post

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cret-for-cache"


def _deliver(client: Any, account: ProviderAccount, *, secret: str = SECRET) -> Any:
    return post(client, blockpass_webhook(account, blockpass_resolved("bp-c"), secret=secret))


def _account_queries(spent: Any) -> int:
    return sum('FROM "kyc_provideraccount"' in q for q in spent.queries)


class _Clock:
    """kyc.intake's monotonic clock, moved by hand."""

    def __init__(self, monkeypatch: Any) -> None:
        self.now = 1000.0
        monkeypatch.setattr(intake.time, "monotonic", lambda: self.now)


def test_a_repeat_delivery_reads_no_account(client: Any, merchant: Any, measure: Any) -> None:
    account = blockpass_account(merchant, webhook_secret=SECRET)
    with measure() as first:
        assert _deliver(client, account).status_code == 200
    with measure() as second:
        assert _deliver(client, account).status_code == 200
    assert _account_queries(first) == 1, first
    assert _account_queries(second) == 0, second
    assert len(second.queries) == 1 and second.commits == 1, second  # the insert alone
    assert InboundEvent.objects.filter(account=account, state="received").count() == 2


def test_a_secret_saved_in_this_process_applies_to_the_next_delivery(
    client: Any, merchant: Any
) -> None:
    account = blockpass_account(merchant, webhook_secret=SECRET)
    assert _deliver(client, account).status_code == 200
    account.settings = {**account.settings, "webhook_secret": "rotated"}
    account.save()
    assert _deliver(client, account).status_code == 401  # the old secret, refused at once
    assert _deliver(client, account, secret="rotated").status_code == 200


def test_a_disabled_or_deleted_account_is_not_served_from_the_copy(
    client: Any, merchant: Any
) -> None:
    account = blockpass_account(merchant, webhook_secret=SECRET)
    assert _deliver(client, account).status_code == 200
    account.delete()
    answer = _deliver(client, account)
    assert answer.status_code == 404
    assert InboundEvent.objects.filter(state="refused", error__startswith="unknown token").exists()


def test_a_change_made_elsewhere_applies_after_the_cache_seconds(
    client: Any, merchant: Any, monkeypatch: Any
) -> None:
    clock = _Clock(monkeypatch)
    account = blockpass_account(merchant, webhook_secret=SECRET)
    with override_settings(WEBHOOK_ACCOUNT_CACHE_SECONDS=2):
        assert _deliver(client, account).status_code == 200
        # Another process rotates the secret: no signal reaches this one.
        ProviderAccount.objects.filter(pk=account.pk).update(
            settings={**account.settings, "webhook_secret": "rotated"}
        )
        clock.now += 1.5
        assert _deliver(client, account).status_code == 200  # still the copy
        clock.now += 1.0
        assert _deliver(client, account).status_code == 401  # read again: the new secret
        assert _deliver(client, account, secret="rotated").status_code == 200


def test_zero_seconds_reads_the_account_for_every_delivery(
    client: Any, merchant: Any, measure: Any
) -> None:
    account = blockpass_account(merchant, webhook_secret=SECRET)
    with override_settings(WEBHOOK_ACCOUNT_CACHE_SECONDS=0):
        assert _deliver(client, account).status_code == 200
        with measure() as spent:
            assert _deliver(client, account).status_code == 200
    assert _account_queries(spent) == 1, spent


def test_a_request_cannot_change_the_copy_the_next_one_gets(client: Any, merchant: Any) -> None:
    account = blockpass_account(merchant, webhook_secret=SECRET)
    assert _deliver(client, account).status_code == 200
    first = intake._account(provider="blockpass", token=account.webhook_token)
    first.enabled = False
    first.last_error = "set by one request"
    again = intake._account(provider="blockpass", token=account.webhook_token)
    assert (again.enabled, again.last_error) == (True, "")
