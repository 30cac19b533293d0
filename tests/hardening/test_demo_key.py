"""The demo API key is random (it used to be an HMAC of the public development
SECRET_KEY, so anyone could compute it), printed by every `manage.py demo` run."""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import stat

import pytest
from django.core.management import call_command

from kyc.models import ApiKey, Merchant

pytestmark = pytest.mark.django_db


def run_demo() -> str:
    out = io.StringIO()
    call_command("demo", stdout=out)
    found = re.search(r"API key: (\S+)", out.getvalue())
    assert found, out.getvalue()
    return found.group(1)


@pytest.fixture(autouse=True)
def _own_var(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def test_it_makes_a_random_demo_key_and_prints_it_on_every_run(settings, tmp_path) -> None:
    first = run_demo()
    assert first.startswith("kp_")
    derived = hmac.new(settings.SECRET_KEY.encode(), b"demo-api-key", hashlib.sha256).hexdigest()
    assert derived[:40] not in first, "derived from the public SECRET_KEY"
    assert run_demo() == first  # the same key on the next `make run`
    assert stat.S_IMODE((tmp_path / "demo-api-key").stat().st_mode) == 0o600
    # A fresh installation (new database, new var/) gets a different key.
    ApiKey.objects.all().delete()
    (tmp_path / "demo-api-key").unlink()
    second = run_demo()
    assert second.startswith("kp_") and second != first


def test_it_revokes_a_demo_key_of_an_earlier_version(settings) -> None:
    from kyc import services

    merchant = Merchant.objects.create(slug="demo", name="Demo Shop")
    secret = hmac.new(settings.SECRET_KEY.encode(), b"demo-api-key", hashlib.sha256).hexdigest()
    legacy, _ = services.api_key_create(
        merchant=merchant, name="demo key", raw=f"kp_demo0000_{secret[:40]}"
    )
    key = run_demo()
    legacy.refresh_from_db()
    assert legacy.revoked_at is not None
    assert key.startswith("kp_") and "demo0000" not in key


def test_it_says_so_when_the_key_was_made_elsewhere(tmp_path) -> None:
    run_demo()
    (tmp_path / "demo-api-key").unlink()
    assert not run_demo().startswith("kp_")
