"""A poll costs the web process one Redis command: the per-address counter (its expiry
set in the same round trip when a window starts) and the cached state and fragment."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client

from tests.customer.test_page_views import make
from tests.intake.test_one_round_trip import _flat, _Trips

pytestmark = pytest.mark.django_db


def _redis() -> Any:
    return redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"])


def test_a_poll_takes_one_round_trip_and_its_counter_expires(merchant: Any) -> None:
    t = make(merchant)
    url = f"/t/{t.page_token}/status"
    assert Client().get(url).status_code == 200  # renders and caches the fragment
    (key,) = _redis().keys("*rl:page:127.0.0.1:*")
    assert 0 < _redis().ttl(key) <= 61  # set by the window's first hit, same round trip
    trips = _Trips()
    with trips.patch:
        again = Client().get(url)
    assert again.status_code == 200 and b"data-status" in again.content
    assert len(trips.sent) == 1, [_flat(c)[:120] for c in trips.sent]
    assert b"EVALSHA" in _flat(trips.sent[0]).upper()
    assert int(_redis().get(key)) == 2


def test_a_server_that_forgot_the_script_is_given_it_again(merchant: Any) -> None:
    t = make(merchant)
    url = f"/t/{t.page_token}/status"
    assert Client().get(url).status_code == 200
    _redis().script_flush()
    answer = Client().get(url)
    assert answer.status_code == 200 and b"data-status" in answer.content
    (key,) = _redis().keys("*rl:page:127.0.0.1:*")
    assert int(_redis().get(key)) == 2  # counted once, not twice
