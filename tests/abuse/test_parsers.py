"""Property tests over the parsers that stand between the internet and the database:
CoreIDs, CorePass Ed448 signatures and deadlines, Blockpass HMAC signatures.

Each parser either returns a well-formed value or raises its one documented error;
a valid value round-trips; any single change to a signed message or signature fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kyc.errors import SignatureError  # noqa: E402
from providers.blockpass import signature as bp_sig
from providers.corepass import coreid
from providers.corepass import signature as cp_sig
from tests.conftest import ROOT, in_ci

# The CorePass sample vectors are kept outside the repository: in $VECTORS_DIR, else in
# shared/vectors/ beside the checkout. The file keeps its published name.
VECTORS_DIR = Path(os.environ.get("VECTORS_DIR") or ROOT.parent / "shared" / "vectors")
VECTORS = VECTORS_DIR / "corepass-seed-samples.json"
# Below this many generated inputs the property tests did not really run (about 1,600 today).
MIN_INPUTS = 1000
PROFILE = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
_tried = {"n": 0}

hex40 = st.text(alphabet="0123456789abcdef", min_size=40, max_size=40)
prefixes = st.sampled_from(sorted(coreid.NETWORKS))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def make_coreid(prefix: str, body: str) -> str:
    return prefix + coreid.check_digits(prefix, body) + body


def count() -> None:
    _tried["n"] += 1


def sample_vectors() -> list[dict]:
    """The CorePass sample vectors; missing in CI fails the test, locally it skips saying where."""
    if not VECTORS.exists():
        message = f"CorePass sample vectors missing: {VECTORS} (set VECTORS_DIR to their directory)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return json.loads(VECTORS.read_text())["vectors"]


@PROFILE
@given(st.one_of(st.text(max_size=60), st.from_regex(r"\A[a-z]{2}[0-9]{2}[0-9a-f]{40}\Z")))
def test_it_parses_any_text_as_a_coreid_or_says_why(text: str) -> None:
    count()
    try:
        value = coreid.normalize(text)
    except coreid.CoreIDError as exc:
        assert str(exc)
        assert not coreid.is_valid(text)
        return
    assert len(value) == coreid.LENGTH and value == value.lower() and coreid.is_valid(value)


@PROFILE
@given(prefixes, hex40, st.sampled_from(["", " ", "\t", "\n"]))
def test_it_accepts_every_well_formed_coreid_in_any_case(prefix: str, body: str, pad: str) -> None:
    count()
    cid = make_coreid(prefix, body)
    assert coreid.normalize(pad + cid.upper() + pad) == cid
    assert coreid.network(cid) == coreid.NETWORKS[prefix]


@PROFILE
@given(prefixes, hex40, st.integers(min_value=2, max_value=43), st.sampled_from("0123456789abcdef"))
def test_it_catches_every_single_character_typo(prefix: str, body: str, at: int, char: str) -> None:
    count()
    cid = make_coreid(prefix, body)
    assume(cid[at] != char and not (at < 4 and not char.isdigit()))
    typo = cid[:at] + char + cid[at + 1 :]
    assert not coreid.is_valid(typo), (cid, typo)


def test_it_accepts_the_coreids_of_the_sample_vectors() -> None:
    users = {v["payload"]["user"] for v in sample_vectors() if "user" in v["payload"]}
    assert users, f"no CoreID in {VECTORS}"
    assert all(coreid.is_valid(u) for u in users)


@PROFILE
@given(
    st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.hex()), json_values)
)
def test_it_splits_any_signature_field_or_refuses_it(value) -> None:
    count()
    try:
        sig, key = cp_sig.split_signature(value)
    except SignatureError as exc:
        assert exc.reason
        return
    assert len(sig) == cp_sig.SIG_LEN and len(key) == cp_sig.KEY_LEN


@PROFILE
@given(st.text(max_size=200))
def test_it_parses_any_public_key_text_or_refuses_it(text: str) -> None:
    count()
    try:
        key = cp_sig.parse_public_key(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert len(key) == cp_sig.KEY_LEN


KEY = Ed448PrivateKey.generate()
PUBLIC = cp_sig.public_bytes(KEY)
NOW = 1_700_000_000


def signed_status(user, fields, status, expiration, deadline, tx_hash):
    payload = {
        "user": user,
        "fields": fields,
        "status": status,
        "expiration": expiration,
        "deadline": deadline,
    }
    if tx_hash is not None:
        payload["tx_hash"] = tx_hash
    return cp_sig.sign_status(KEY, payload)


status_payloads = st.builds(
    signed_status,
    user=st.builds(make_coreid, prefixes, hex40),
    fields=st.lists(st.text(max_size=20).map(cp_sig.field_hash), max_size=3),
    status=st.sampled_from(["PENDING", "ACCEPTED", "KYC_RECEIVED", "FINISH_SUCCESS", "<&>"]),
    expiration=st.integers(min_value=NOW, max_value=NOW + 900),
    deadline=st.integers(min_value=NOW, max_value=NOW + cp_sig.DEADLINE_WINDOW),
    tx_hash=st.none() | st.text(alphabet="0123456789abcdefx", min_size=1, max_size=66),
)


@PROFILE
@given(status_payloads)
def test_it_verifies_what_the_connector_signed(payload) -> None:
    count()
    cp_sig.verify_status(payload, public_key=PUBLIC, now=NOW)


@PROFILE
@given(
    status_payloads,
    st.sampled_from(["user", "status", "expiration", "deadline", "fields", "tx_hash"]),
    st.data(),
)
def test_it_refuses_any_change_to_a_signed_status(payload, key, data) -> None:
    count()
    changed = dict(payload)
    if key in ("expiration", "deadline"):
        changed[key] = payload[key] - data.draw(st.integers(min_value=1, max_value=60))
    elif key == "fields":
        changed[key] = [*payload["fields"], cp_sig.field_hash("SH_EXTRA")]
    elif key == "tx_hash":
        changed[key] = (payload.get("tx_hash") or "") + "0"
    else:
        changed[key] = payload[key] + "x"
    with pytest.raises(SignatureError):
        cp_sig.verify_status(changed, public_key=PUBLIC, now=NOW - 120)


# a signed status payload, a byte of its signature field (Ed448 signature and embedded
# public key, 171 bytes) and a non-zero mask to flip it with
FLIPPED_BYTES = (
    status_payloads,
    st.integers(min_value=0, max_value=170),
    st.integers(min_value=1, max_value=255),
)


@PROFILE
@given(*FLIPPED_BYTES)
def test_it_refuses_any_flipped_signature_byte(payload, at, flip) -> None:
    count()
    import base64

    raw = bytearray(base64.b64decode(payload["signature"]))
    raw[at] ^= flip
    with pytest.raises(SignatureError):
        cp_sig.verify_status(
            {**payload, "signature": base64.b64encode(bytes(raw)).decode()},
            public_key=PUBLIC,
            now=NOW,
        )


@PROFILE
@given(
    st.dictionaries(
        st.sampled_from(
            ["user", "fields", "status", "expiration", "deadline", "signature", "tx_hash", "infos"]
        ),
        json_values,
    )
)
def test_it_never_accepts_or_crashes_on_arbitrary_callbacks(payload) -> None:
    count()
    for verify in (cp_sig.verify_status, cp_sig.verify_data, cp_sig.verify_origin_hint):
        with pytest.raises(SignatureError):
            verify(payload, public_key=PUBLIC, now=NOW)


@PROFILE
@given(st.one_of(st.integers(min_value=-(2**63), max_value=2**63), json_values))
def test_it_accepts_only_live_deadlines(deadline) -> None:
    count()
    try:
        value = cp_sig.check_deadline(deadline, now=NOW)
    except SignatureError:
        try:
            as_int = int(deadline)
        except (TypeError, ValueError, OverflowError):
            return
        assert as_int < NOW or as_int - NOW > cp_sig.DEADLINE_WINDOW + cp_sig.CLOCK_SKEW
        return
    assert NOW <= value <= NOW + cp_sig.DEADLINE_WINDOW + cp_sig.CLOCK_SKEW


@PROFILE
@given(
    st.binary(max_size=2000),
    st.text(min_size=1, max_size=40),
    st.one_of(st.none(), st.text(max_size=80)),
)
def test_it_accepts_a_blockpass_delivery_only_with_its_hmac(body, secret, signature) -> None:
    count()
    bp_sig.verify(body, bp_sig.sign(body, secret), [secret])
    bp_sig.verify(body, bp_sig.sign(body, secret).upper(), [secret])
    if signature is not None and signature.strip().lower() == bp_sig.sign(body, secret):
        return
    with pytest.raises(SignatureError):
        bp_sig.verify(body, signature, [secret])
    with pytest.raises(SignatureError):
        bp_sig.verify(body + b"x", bp_sig.sign(body, secret), [secret])


SOAK = settings(PROFILE, max_examples=3000, derandomize=False)


@pytest.mark.soak
@SOAK
@given(*FLIPPED_BYTES)
def test_it_refuses_flipped_bytes_over_many_random_signatures(payload, at, flip) -> None:
    test_it_refuses_any_flipped_signature_byte.hypothesis.inner_test(payload, at, flip)


@pytest.mark.soak
@SOAK
@given(st.one_of(st.text(max_size=60), st.from_regex(r"\A[a-z]{2}[0-9]{2}[0-9a-f]{40}\Z")))
def test_it_parses_many_random_coreids(text: str) -> None:
    test_it_parses_any_text_as_a_coreid_or_says_why.hypothesis.inner_test(text)


def test_it_verifies_the_documented_status_samples() -> None:
    vectors = [v for v in sample_vectors() if v["kind"] == "status" and v["verifies"]]
    for v in vectors:
        key = bytes.fromhex(v["signer_public_key_hex"])
        cp_sig.verify_status(v["payload"], public_key=key, now=v["payload"]["deadline"] - 1)
        with pytest.raises(SignatureError):
            cp_sig.verify_status(
                {**v["payload"], "status": "FINISH_SUCCESS"},
                public_key=key,
                now=v["payload"]["deadline"] - 1,
            )
    assert vectors


def test_it_records_the_parser_figure(promise, module_outcomes) -> None:
    """Last in this file (file order): every test above ran, none failed, and together
    they generated at least MIN_INPUTS inputs; only then is the figure recorded."""
    assert module_outcomes, "run the whole file: the figure needs the property tests"
    failed = [t for t, outcome in module_outcomes.items() if outcome in ("failed", "not run")]
    assert not failed, f"tests failed or did not run before the figure: {failed}"
    assert _tried["n"] >= MIN_INPUTS, f"only {_tried['n']} generated inputs"
    promise("parser_properties", _tried["n"], "generated inputs")
