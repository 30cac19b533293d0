"""Embedded mode: an exhausted login limit survives a full cache. Django's file cache keeps
300 entries and then deletes a random third of them, which used to reset the limit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache, caches

from kyc import ratelimit
from tests.hardening.test_file_modes import embedded_caches

pytestmark = pytest.mark.django_db
PASSWORD = "right-password-123"


def relocate(config: dict, tmp_path: Path) -> dict:
    return {
        alias: {**c, "LOCATION": str(tmp_path / "caches" / alias)} for alias, c in config.items()
    }


def exhaust_login(client) -> None:
    get_user_model().objects.create_user("dave", password=PASSWORD)
    for _ in range(21):
        client.post("/login/", {"username": "dave", "password": "wrong"})
    assert client.post("/login/", {"username": "dave", "password": PASSWORD}).status_code == 429


def test_it_keeps_an_exhausted_login_limit_when_the_embedded_cache_fills(
    client, settings, tmp_path
) -> None:
    settings.CACHES = relocate(embedded_caches(tmp_path), tmp_path)
    assert "FileBased" in settings.CACHES["default"]["BACKEND"]
    exhaust_login(client)
    for i in range(2000):  # far past the default cache's 300 entries: culled ~20 times
        cache.set(f"page-state:{i}", i)
    for i in range(300):  # and other addresses' and accounts' counters
        ratelimit.hit(f"login:addr:10.0.{i}.1", limit=20)
    assert client.post("/login/", {"username": "dave", "password": PASSWORD}).status_code == 429


def test_it_culls_only_expired_counters(client, settings, tmp_path) -> None:
    config = relocate(embedded_caches(tmp_path), tmp_path)
    config["ratelimit"]["OPTIONS"] = {"MAX_ENTRIES": 50}
    settings.CACHES = config
    exhaust_login(client)
    limits = caches["ratelimit"]
    for i in range(30):
        limits.set(f"old:{i}", 1, timeout=1)
    time.sleep(1.1)
    for i in range(200):  # four times MAX_ENTRIES of live counters, each at its limit
        for _ in range(5):
            ratelimit.hit(f"other:{i}", limit=5)
    files = list((tmp_path / "caches" / "ratelimit").glob("*.djcache"))
    assert len(files) == 200 + 3, "expired counters were kept or live ones dropped"
    assert client.post("/login/", {"username": "dave", "password": PASSWORD}).status_code == 429
    assert not any(ratelimit.hit(f"other:{i}", limit=5) for i in range(200)), (
        "a live counter was culled (its limit started again)"
    )
