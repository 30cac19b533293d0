"""providers/blockpass/signature.py in detail: webhook HMACs, the rotation grace period and
merchant-signed refIds (each test kills mutants `make mutate` found)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest

from kyc.errors import SignatureError
from providers.blockpass import signature

BODY = b'{"action":"certPormise.resolved","data":{"blockpassID":"bp-1"}}'
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _error(body: bytes, sig: str | None, secrets: list[str]) -> str:
    with pytest.raises(SignatureError) as exc:
        signature.verify(body, sig, secrets)
    return str(exc.value)


def test_it_signs_with_hex_hmac_sha256_of_the_raw_body() -> None:
    expected = hmac.new(b"wh-s\xc3\xa9cret", BODY, hashlib.sha256).hexdigest()
    assert signature.sign(BODY, "wh-sécret") == expected


def test_it_accepts_the_signature_of_any_current_secret_in_any_case() -> None:
    good = signature.sign(BODY, "new")
    assert signature.verify(BODY, good, ["new"]) is None
    assert signature.verify(BODY, f"  {good.upper()} ", ["", "old", "new"]) is None
    assert signature.verify(BODY, signature.sign(BODY, "old"), ["old", "new"]) is None


def test_it_names_what_is_wrong_with_a_refused_webhook() -> None:
    good = signature.sign(BODY, "s")
    assert _error(BODY, good, []) == "no webhook secret configured"
    assert _error(BODY, good, ["", ""]) == "no webhook secret configured"
    assert _error(BODY, None, ["s"]) == "missing x-blockpass-signature"
    assert _error(BODY, "", ["s"]) == "missing x-blockpass-signature"
    assert _error(BODY + b" ", good, ["s"]) == "signature does not match"
    assert _error(BODY, good, ["other"]) == "signature does not match"
    # non-ASCII in the header is a mismatch, not a crash
    assert _error(BODY, good[:-1] + "é", ["s"]) == "signature does not match"


def test_it_keeps_the_previous_secret_only_while_its_grace_period_runs() -> None:
    later = (NOW + dt.timedelta(hours=1)).isoformat()
    settings = {
        "webhook_secret": "new",
        "webhook_secret_previous": "old",
        "webhook_secret_previous_until": later,
    }
    assert signature.active_secrets(settings, now=NOW) == ["new", "old"]
    assert signature.active_secrets(settings, now=NOW + dt.timedelta(hours=1)) == ["new"]
    assert signature.active_secrets(
        {**settings, "webhook_secret_previous_until": "junk"}, now=NOW
    ) == ["new"]
    assert signature.active_secrets(
        {**settings, "webhook_secret_previous_until": None}, now=NOW
    ) == ["new"]
    assert signature.active_secrets({**settings, "webhook_secret_previous": ""}, now=NOW) == ["new"]
    assert signature.active_secrets({**settings, "webhook_secret": None}, now=NOW) == ["old"]
    assert signature.active_secrets({}, now=NOW) == []


def test_it_rotates_to_a_new_secret_and_keeps_the_old_one_for_24_hours() -> None:
    stored = {"webhook_secret": "old", "client_id": "c"}
    rotated = signature.rotate(stored, "new", now=NOW)
    assert rotated == {
        "webhook_secret": "new",
        "client_id": "c",
        "webhook_secret_previous": "old",
        "webhook_secret_previous_until": "2026-12-02T12:00:00+00:00",
    }
    assert stored == {"webhook_secret": "old", "client_id": "c"}  # the input is not changed
    assert signature.rotate(stored, "old", now=NOW) == stored  # same secret: nothing to keep
    assert signature.rotate(stored, "", now=NOW) == stored  # blank: the secret stays
    assert signature.rotate({}, "first", now=NOW) == {"webhook_secret": "first"}


def test_it_signs_a_refid_with_a_domain_separated_mac() -> None:
    mac = hmac.new(b"cs", b"blockpass-refid:cust-\xc3\xa9", hashlib.sha256).hexdigest()
    assert signature.sign_ref("cust-é", "cs") == f"cust-é.{mac}"
    # the same secret's webhook signature of the bare reference is not a refId MAC
    assert signature.sign(b"cust-\xc3\xa9", "cs") != mac


def test_it_vouches_only_for_a_refid_the_merchant_signed() -> None:
    ref_id = signature.sign_ref("cust.with.dots", "cs")
    assert signature.verify_ref(ref_id, ["", "old", "cs"]) == "cust.with.dots"
    assert signature.verify_ref(
        ref_id.upper().replace("CUST.WITH.DOTS", "cust.with.dots"), ["cs"]
    ) == ("cust.with.dots")
    reference, _, mac = ref_id.rpartition(".")
    for forged in (
        "cust-1",  # unsigned
        f".{mac}",  # no reference
        f"{reference}.{mac[:-1]}",  # MAC cut short
        f"{reference}.{mac}0",  # MAC too long
        f"{reference}.{mac[:-1]}é",  # non-ASCII in the MAC
        f"other.{mac}",  # MAC of another reference
    ):
        assert signature.verify_ref(forged, ["cs"]) is None, forged
    assert signature.verify_ref(ref_id, ["other"]) is None
    assert signature.verify_ref(ref_id, ["cs", "old"]) == "cust.with.dots"  # first key matches
    # a merchant-signed empty reference names nothing
    assert signature.verify_ref(signature.sign_ref("", "cs"), ["cs"]) is None
    assert signature.verify_ref(ref_id, []) is None and signature.verify_ref(ref_id, [""]) is None
