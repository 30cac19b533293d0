"""List pages are capped at 100 rows; each key is throttled in the shared cache."""

from __future__ import annotations

from typing import Any

from kyc import ratelimit
from kyc.models import KYCRecord
from tests.api_scopes.conftest import World


def test_it_clamps_a_list_limit_above_100(world: World, key_with: Any) -> None:
    KYCRecord.objects.bulk_create(
        KYCRecord(merchant=world.merchant, reference=f"bulk-{n}") for n in range(120)
    )
    reader, _ = key_with("read")
    body = reader.get("/api/v1/records/", {"limit": 500}).json()
    assert len(body["results"]) == 100  # cursor pages carry no total count
    assert "limit=100" in body["next"]
    assert len(reader.get("/api/v1/records/", {"limit": 7}).json()["results"]) == 7
    assert len(reader.get("/api/v1/records/").json()["results"]) == 50  # the default page


def test_it_answers_429_per_key_after_the_configured_rate(
    world: World, key_with: Any, settings: Any
) -> None:
    settings.API_THROTTLE_RATE = "3/day"  # a day-long window: no boundary inside the test
    busy, _ = key_with("read", "write")
    for _ in range(3):
        assert busy.get("/api/v1/certificates/").status_code == 200
    r = busy.get("/api/v1/certificates/")
    assert r.status_code == 429
    assert int(r["Retry-After"]) > 0 and "throttled" in r.json()["detail"].lower()
    assert busy.post("/api/v1/transfers/", {}, format="json").status_code == 429
    calm, _ = key_with("read")  # per key: another key of the same merchant is not held up
    assert calm.get("/api/v1/certificates/").status_code == 200


def test_it_counts_in_the_shared_cache_so_every_process_sees_the_same_hits(
    world: World, key_with: Any, settings: Any
) -> None:
    settings.API_THROTTLE_RATE = "2/day"
    client, key = key_with("read")
    # Two hits counted by another web process land in the same shared counter.
    for _ in range(2):
        ratelimit.hit(f"api-key:{key.pk}", limit=2, window=86400)
    assert client.get("/api/v1/certificates/").status_code == 429
