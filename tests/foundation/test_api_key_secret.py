"""An API key is its visible prefix AND its secret: the prefix alone opens nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from kyc import services
from kyc.models import ApiKey


def _get(raw: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.get("/api/v1/transfers/")


@pytest.mark.django_db
def test_it_refuses_the_right_prefix_with_a_wrong_secret(merchant) -> None:
    key, raw = services.api_key_create(merchant=merchant, name="k")
    _, prefix, secret = raw.split("_", 2)
    flipped = ("A" if secret[0] != "A" else "B") + secret[1:]
    # control: the real key reads the list
    ok = _get(raw)
    assert ok.status_code == 200 and ok.json()["results"] == []
    for wrong in (
        f"kp_{prefix}_{flipped}",  # one character of the secret changed
        f"kp_{prefix}_{secret[:-1]}",  # secret cut short
        f"kp_{prefix}_{secret}x",  # secret with something appended
        f"kp_{prefix}_x",  # any secret at all
    ):
        r = _get(wrong)
        assert r.status_code == 401, wrong
        assert "count" not in r.json() and merchant.name not in r.content.decode()
    key.refresh_from_db()
    used = key.last_used_at
    assert used is not None  # only the real key's call counted as a use
    _get(f"kp_{prefix}_{flipped}")
    key.refresh_from_db()
    assert key.last_used_at == used
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
