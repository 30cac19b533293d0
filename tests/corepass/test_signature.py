"""Ed448 callback signatures against the connector's documented samples (controlled clock)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey

from kyc.errors import SignatureError
from providers.corepass import signature as sig
from tests.corepass.conftest import stored

STATUS_SAMPLES = ("status_accepted", "status_initiate_submitted")


def _verify(name: str, payload: dict[str, Any], key: bytes, now: int) -> None:
    if name.startswith("status"):
        sig.verify_status(payload, public_key=key, now=now)
    else:
        sig.verify_data(payload, public_key=key, now=now)


def _sample(name: str) -> tuple[dict[str, Any], bytes]:
    s = stored(name)
    return s["payload"], bytes.fromhex(s["signer_public_key_hex"])


@pytest.mark.parametrize("name", [*STATUS_SAMPLES, "data"])
def test_it_verifies_the_documented_samples_under_their_signers_keys(name: str) -> None:
    payload, key = _sample(name)
    _verify(name, payload, key, now=payload["deadline"] - 60)


@pytest.mark.parametrize("name", STATUS_SAMPLES)
@pytest.mark.parametrize("field", ["user", "fields", "status", "expiration", "deadline", "tx_hash"])
def test_it_refuses_a_status_sample_with_one_changed_character(name: str, field: str) -> None:
    payload, key = _sample(name)
    payload = copy.deepcopy(payload)
    if field not in payload:
        payload[field] = "0x00"  # adding a field changes the message too
    elif field == "fields":
        h = payload["fields"][0]
        payload["fields"][0] = ("0" if h[0] != "0" else "1") + h[1:]
    elif isinstance(payload[field], int):
        payload[field] += 1 if field != "deadline" else -1
    else:
        v = payload[field]
        payload[field] = v[:-1] + ("0" if v[-1] != "0" else "1")
    with pytest.raises(SignatureError):
        _verify(name, payload, key, now=min(payload["deadline"], _sample(name)[0]["deadline"]) - 60)


def test_it_refuses_a_data_sample_with_a_changed_deadline() -> None:
    payload, key = _sample("data")
    payload = {**payload, "deadline": payload["deadline"] - 1}
    with pytest.raises(SignatureError, match="does not verify"):
        sig.verify_data(payload, public_key=key, now=payload["deadline"] - 60)


@pytest.mark.parametrize("name", [*STATUS_SAMPLES, "data"])
def test_it_refuses_a_changed_signature_character(name: str) -> None:
    payload, key = _sample(name)
    raw = bytearray(base64.b64decode(payload["signature"]))
    raw[10] ^= 0x01
    payload = {**payload, "signature": base64.b64encode(bytes(raw)).decode()}
    with pytest.raises(SignatureError, match="does not verify"):
        _verify(name, payload, key, now=payload["deadline"] - 60)


@pytest.mark.parametrize("name", [*STATUS_SAMPLES, "data"])
def test_it_refuses_a_foreign_configured_key(name: str) -> None:
    payload, _ = _sample(name)
    foreign = sig.public_bytes(Ed448PrivateKey.generate())
    with pytest.raises(SignatureError, match="different key"):
        _verify(name, payload, foreign, now=payload["deadline"] - 60)


def test_it_refuses_a_signature_made_by_a_foreign_key_that_embeds_ours() -> None:
    # An attacker can copy the configured public key into the trailer; the signature
    # itself must still verify under that key.
    payload, key = _sample("status_accepted")
    attacker = Ed448PrivateKey.generate()
    msg = sig.status_message(
        user=payload["user"],
        fields=payload["fields"],
        status=payload["status"],
        expiration=payload["expiration"],
        deadline=payload["deadline"],
    )
    forged = base64.b64encode(attacker.sign(msg) + key).decode()
    with pytest.raises(SignatureError, match="does not verify"):
        sig.verify_status(
            {**payload, "signature": forged}, public_key=key, now=payload["deadline"] - 60
        )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("not base64 !!", "not base64"),
        (base64.b64encode(b"x" * 170).decode(), "171 bytes"),
        (base64.b64encode(b"x" * 172).decode(), "171 bytes"),
    ],
)
@pytest.mark.parametrize("name", [*STATUS_SAMPLES, "data"])
def test_it_refuses_missing_or_malformed_signatures(name: str, value: Any, reason: str) -> None:
    payload, key = _sample(name)
    payload = {k: v for k, v in payload.items() if k != "signature"}
    if value is not None:
        payload["signature"] = value
    with pytest.raises(SignatureError, match=reason):
        _verify(name, payload, key, now=payload["deadline"] - 60)


@pytest.mark.parametrize("name", [*STATUS_SAMPLES, "data"])
@pytest.mark.parametrize(("offset", "ok"), [(-1, True), (0, True), (1, False)])
def test_it_checks_the_deadline_to_the_second(name: str, offset: int, ok: bool) -> None:
    payload, key = _sample(name)
    now = payload["deadline"] + offset
    if ok:
        _verify(name, payload, key, now=now)
    else:
        with pytest.raises(SignatureError, match="deadline passed"):
            _verify(name, payload, key, now=now)


@pytest.mark.parametrize(("age", "ok"), [(179, True), (180, True), (181, False)])
def test_it_accepts_a_fresh_callback_for_exactly_three_minutes(age: int, ok: bool) -> None:
    """A connector signs with deadline = sent + 180 s; arriving `age` seconds later."""
    key = Ed448PrivateKey.generate()
    sent = 1_700_000_000
    payload = {"deadline": sent + 180}
    payload["signature"] = sig.sign(key, sig.data_message(deadline=payload["deadline"]))
    check = lambda: sig.verify_data(payload, public_key=sig.public_bytes(key), now=sent + age)  # noqa: E731
    if ok:
        check()
    else:
        with pytest.raises(SignatureError, match="deadline passed 1 s ago"):
            check()


def test_it_refuses_a_deadline_implausibly_far_ahead() -> None:
    with pytest.raises(SignatureError, match="too far"):
        sig.check_deadline(1_000 + sig.DEADLINE_WINDOW + sig.CLOCK_SKEW + 1, now=1_000)
    assert sig.check_deadline(1_000 + sig.DEADLINE_WINDOW + sig.CLOCK_SKEW, now=1_000)


def test_it_knows_status_fields_are_sha3_of_item_ids() -> None:
    payload, _ = _sample("status_accepted")
    assert payload["fields"] == [sig.field_hash("SH_EMAIL")]


def test_it_cannot_verify_the_error_sample_and_only_checks_its_key_and_deadline() -> None:
    payload, key = _sample("error")
    sig.verify_origin_hint(payload, public_key=key, now=payload["deadline"])
    with pytest.raises(SignatureError):
        sig.verify_data(payload, public_key=key, now=payload["deadline"])
    foreign = sig.public_bytes(Ed448PrivateKey.generate())
    with pytest.raises(SignatureError, match="different key"):
        sig.verify_origin_hint(payload, public_key=foreign, now=payload["deadline"])


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (
            "ecbce702f4d8548ef8b3fe672d5a58e83e23f55d69a90739904e5793e32bbadaacef919c284d555d84e95f11f21da607e4880d9ae7b6143980",
            True,
        ),
        (
            "0xecbce702f4d8548ef8b3fe672d5a58e83e23f55d69a90739904e5793e32bbadaacef919c284d555d84e95f11f21da607e4880d9ae7b6143980",
            True,
        ),
        (
            base64.b64encode(
                bytes.fromhex(
                    "ecbce702f4d8548ef8b3fe672d5a58e83e23f55d69a90739904e5793e32bbadaacef919c284d555d84e95f11f21da607e4880d9ae7b6143980"
                )
            ).decode(),
            True,
        ),
        ("ecbce702", False),
        (base64.b64encode(b"x" * 32).decode(), False),
        ("", False),
        ("zz" * 57, False),
    ],
)
def test_it_parses_connector_keys_in_hex_or_base64(text: str, ok: bool) -> None:
    if ok:
        assert len(sig.parse_public_key(text)) == 57
    else:
        with pytest.raises(ValueError):
            sig.parse_public_key(text)


def test_it_signs_status_json_byte_for_byte_as_go_writes_it() -> None:
    # Go's json.Marshal: compact, UTF-8 kept (not \u-escaped), <, > and & escaped.
    import hashlib

    msg = sig.status_message(
        user="cb1", fields=["é<a>&"], status="ok", expiration=1, deadline=2, tx_hash="0x"
    )
    go = '{"user":"cb1","fields":["é\\u003ca\\u003e\\u0026"],"status":"ok","expiration":1,"deadline":2,"tx_hash":"0x"}'
    assert msg == hashlib.sha3_256(go.encode()).digest()


def _reason(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises((SignatureError, ValueError)) as exc:
        call(*args, **kwargs)
    return str(exc.value)


def test_it_says_exactly_why_a_key_or_signature_is_refused() -> None:
    # These texts reach the settings form and the kept delivery's reason: pin them.
    for empty in (None, "", "   "):
        assert _reason(sig.parse_public_key, empty) == "The connector public key is empty."
    assert _reason(sig.parse_public_key, "!!!!") == (
        "The connector public key must be hex (114 characters) or base64."
    )
    assert _reason(sig.parse_public_key, base64.b64encode(b"k" * 32).decode()) == (
        "The connector public key must be a 57-byte Ed448 key, got 32 bytes."
    )
    # 114 characters that are not hex are read as base64 (85 bytes), not as nothing
    assert _reason(sig.parse_public_key, "g" * 114) == (
        "The connector public key must be a 57-byte Ed448 key, got 85 bytes."
    )
    # unpadded base64 is padded; characters outside the alphabet are refused, not skipped
    assert _reason(sig.parse_public_key, base64.b64encode(b"k" * 32).decode().rstrip("=")) == (
        "The connector public key must be a 57-byte Ed448 key, got 32 bytes."
    )
    good = base64.b64encode(sig.public_bytes(Ed448PrivateKey.generate())).decode()
    assert len(sig.parse_public_key(good)) == 57
    assert _reason(sig.parse_public_key, good[:10] + "!" + good[10:]) == (
        "The connector public key must be hex (114 characters) or base64."
    )
    assert _reason(sig.split_signature, None) == "signature missing"
    assert _reason(sig.split_signature, 5) == "signature missing"
    assert _reason(sig.split_signature, "no base64!") == "signature is not base64"
    assert _reason(sig.split_signature, base64.b64encode(b"x" * 170).decode()) == (
        "signature must be 171 bytes, got 170"
    )
    key = Ed448PrivateKey.generate()
    ours, theirs = sig.public_bytes(key), sig.public_bytes(Ed448PrivateKey.generate())
    signed = sig.sign(key, b"m")
    assert _reason(sig.verify, signature=signed, message=b"m", public_key=theirs) == (
        "signed by a different key than the configured connector key"
    )
    assert _reason(sig.verify, signature=signed, message=b"n", public_key=ours) == (
        "signature does not verify"
    )
    hint = {"deadline": 100, "signature": signed}
    assert _reason(sig.verify_origin_hint, hint, public_key=theirs, now=100) == (
        "signed by a different key than the configured connector key"
    )
    assert sig.verify_origin_hint(hint, public_key=ours, now=100) is None
    assert _reason(sig.check_deadline, None, now=1) == "deadline missing or not a number"
    assert _reason(sig.check_deadline, "x", now=1) == "deadline missing or not a number"
    assert _reason(sig.check_deadline, 95, now=100) == "deadline passed 5 s ago"
    assert _reason(sig.check_deadline, 100 + 241, now=100) == "deadline is too far in the future"
    assert sig.check_deadline("150", now=100) == 150
    assert _reason(sig.verify_status, {"deadline": 100}, public_key=ours, now=100) == (
        "status callback is missing user, fields, status or expiration"
    )


def test_it_accepts_an_empty_tx_hash_that_go_left_out_of_what_it_signed() -> None:
    key = Ed448PrivateKey.generate()
    body = {"user": "cb1", "fields": ["h"], "status": "ok", "expiration": 1, "deadline": 100}
    signed = sig.sign(key, sig.status_message(**body))  # omitempty: no tx_hash signed
    sig.verify_status(
        {**body, "tx_hash": "", "signature": signed}, public_key=sig.public_bytes(key), now=100
    )
    with pytest.raises(SignatureError, match="does not verify"):
        sig.verify_status(
            {**body, "tx_hash": "0x1", "signature": signed},
            public_key=sig.public_bytes(key),
            now=100,
        )
