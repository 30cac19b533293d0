"""A Blockpass customer is bound to the record created for their Blockpass identity, never to a
record a `refId` names: register/login, upload and /status over HTTP, against the
sandbox Blockpass server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kyc import services as kyc_services
from kyc.contract import FieldValue
from kyc.crypto import lookup_hash
from kyc.models import IdentityField, KYCRecord, ProviderAccount
from providers.blockpass import sandbox, services, signature

CID = "demo_service"
CLIENT_SECRET = "demo-client-secret"  # tests/blockpass/conftest.py bp_settings
COMMENT = "Passport photo blurry; Jane Roe, born 1990-01-01"


def _victim(merchant: Any, *, external_id: str) -> KYCRecord:
    """A merchant's Incode/API record: its own reference, a review verdict, a stored field."""
    record = kyc_services.record_get_or_create(
        merchant=merchant, reference="victim-42", provider="incode", external_id=external_id
    )
    kyc_services.identity_fields_store(
        record=record, provider="incode", fields=[FieldValue(key="fullName", value="Jane Roe")]
    )
    record.review_status = KYCRecord.Review.REJECTED
    record.review_comment = COMMENT
    record.save()
    return record


def _snapshot(record: KYCRecord) -> dict[str, Any]:
    record.refresh_from_db()
    return {
        "provider": record.provider,
        "external_id": record.external_id,
        "external_key": record.external_key,
        "secrets": record.secrets,
        "review_status": record.review_status,
        "review_comment": record.review_comment,
        "fields": sorted(
            IdentityField.objects.filter(record=record).values_list("provider", "key", "value")
        ),
    }


def _start(how: str, bpid: str, ref_id: str) -> dict[str, Any]:
    """The attacker's app starts with `refId`: by register (a new Blockpass id) or login."""
    if how == "register":
        result = sandbox.app_register(client_id=CID, name="Mallory", ref_id=ref_id)
        assert result["status"] == 200, result
        return {"bpid": result["bpid"], **result["answer"]}
    status, answer = sandbox.app_call(
        client_id=CID,
        bpid=bpid,
        action="login",
        extra={"sessionCode": "sess-mallory", "refId": ref_id},
    )
    assert status == 200, answer
    return {"bpid": bpid, **answer}


@pytest.mark.parametrize("how", ["register", "login"])
@pytest.mark.parametrize("victim_external_id", ["", "incode-interview-1"])
@pytest.mark.parametrize("signed", [False, True])
def test_it_never_attaches_a_customer_to_an_existing_record_named_by_refid(
    live_account: ProviderAccount, how: str, victim_external_id: str, signed: bool
) -> None:
    victim = _victim(live_account.merchant, external_id=victim_external_id)
    before = _snapshot(victim)
    # Even the merchant's own signature on the reference does not select an existing record.
    ref_id = signature.sign_ref("victim-42", CLIENT_SECRET) if signed else "victim-42"

    answer = _start(how, "mallory-bpid-0001", ref_id)
    bpid = answer["bpid"]
    assert answer["nextAction"] == "upload"  # a fresh record: nothing to "welcome back" to

    mine = services.record_for_blockpass_id(account=live_account, blockpass_id=bpid)
    assert mine is not None and mine.pk != victim.pk
    assert mine.reference.startswith("blockpass-c-") and bpid not in mine.reference
    assert mine.provider == "blockpass"
    assert _snapshot(victim) == before

    status, body = sandbox.app_call(client_id=CID, bpid=bpid, action="status")
    assert status == 200 and body["status"] == "waiting" and body["message"] == ""
    text = json.dumps(body)
    assert "blurry" not in text and "Jane" not in text and "fullName" not in text

    status, _ = sandbox.app_upload(
        client_id=CID,
        bpid=bpid,
        fields={"email": "m@evil.test", "given_name": "Mallory"},
        access_token=answer["accessToken"],
    )
    assert status == 200
    assert {f.key for f in IdentityField.objects.filter(record=mine)} == {"email", "given_name"}
    assert _snapshot(victim) == before


def test_it_names_a_new_record_only_after_a_merchant_signed_refid(
    live_account: ProviderAccount,
) -> None:
    signed = sandbox.app_register(
        client_id=CID, ref_id=signature.sign_ref("cust-777", CLIENT_SECRET)
    )
    record = KYCRecord.objects.get(reference="cust-777")
    assert record.provider == "blockpass" and record.external_key == lookup_hash(signed["bpid"])

    # Typed by the customer, or signed with another secret: it names nothing, so no customer
    # can claim a reference the merchant will use later for someone else.
    for ref_id in ("cust-888", signature.sign_ref("cust-888", "not-the-client-secret")):
        result = sandbox.app_register(client_id=CID, ref_id=ref_id)
        assert result["status"] == 200
        record = KYCRecord.objects.get(external_key=lookup_hash(result["bpid"]))
        assert record.reference.startswith("blockpass-c-")
        assert result["bpid"] not in record.reference
    assert not KYCRecord.objects.filter(reference="cust-888").exists()


def test_it_gives_a_fresh_record_when_the_signed_reference_is_another_customers(
    live_account: ProviderAccount,
) -> None:
    ref_id = signature.sign_ref("cust-1", CLIENT_SECRET)
    first = sandbox.app_register(client_id=CID, ref_id=ref_id)
    second = sandbox.app_register(client_id=CID, ref_id=ref_id)  # a signed refId, replayed
    a = services.record_for_blockpass_id(account=live_account, blockpass_id=first["bpid"])
    b = services.record_for_blockpass_id(account=live_account, blockpass_id=second["bpid"])
    assert a is not None and b is not None and a.pk != b.pk
    assert a.reference == "cust-1" and b.reference.startswith("blockpass-c-")
    # The same identity coming back finds its own record, whatever refId it sends.
    status, answer = sandbox.app_call(
        client_id=CID,
        bpid=first["bpid"],
        action="login",
        extra={"sessionCode": "s", "refId": signature.sign_ref("other", CLIENT_SECRET)},
    )
    assert status == 200 and KYCRecord.objects.count() == 2


def test_it_no_longer_serves_a_record_a_refid_bound_before_the_fix(
    live_account: ProviderAccount,
) -> None:
    bpid = "hijacker-bpid-0002"
    # What register did to an Incode record named by refId: the attacker's id written into it.
    hijacked = _victim(live_account.merchant, external_id=bpid)
    status, body = sandbox.app_call(client_id=CID, bpid=bpid, action="status")
    assert status == 200 and body["status"] == "notFound" and "message" not in body
    answer = _start("login", bpid, "victim-42")
    assert answer["nextAction"] == "upload"
    mine = services.record_for_blockpass_id(account=live_account, blockpass_id=bpid)
    assert mine is not None and mine.pk != hijacked.pk


@pytest.mark.django_db
def test_it_refuses_reserved_or_oversized_signed_references(account: ProviderAccount) -> None:
    secret = account.settings["client_secret"]
    for reference in ("blockpass-someone-else", "x" * 201):
        ref_id = signature.sign_ref(reference, secret)
        assert services.reference_from_ref_id(account=account, ref_id=ref_id) is None
    good = signature.sign_ref("cust.with.dots", secret)
    assert services.reference_from_ref_id(account=account, ref_id=good) == "cust.with.dots"
    assert services.reference_from_ref_id(account=account, ref_id=good.upper()) is None


@pytest.mark.django_db
def test_it_sidesteps_a_taken_own_reference_without_touching_it(
    account: ProviderAccount,
) -> None:
    # An erased record keeps its reference but loses its identity: a returning customer (or
    # anyone whose reference is taken) gets a new record, never the old one.
    taken = KYCRecord.objects.create(
        merchant=account.merchant, reference="blockpass-bp-9", provider="blockpass"
    )
    record, created = services.record_register(account=account, blockpass_id="bp-9", reference=None)
    assert created and record.pk != taken.pk and "bp-9" not in record.reference
    taken.refresh_from_db()
    assert taken.external_key == ""
    again, created = services.record_register(
        account=account, blockpass_id="bp-9", reference="cust-x"
    )
    assert again.pk == record.pk and not created


def test_signed_refids_verify_only_with_their_secret() -> None:
    ref_id = signature.sign_ref("r-1", "k1")
    assert signature.verify_ref(ref_id, ["k0", "k1"]) == "r-1"
    assert signature.verify_ref(ref_id, ["k0"]) is None
    assert signature.verify_ref(ref_id, [""]) is None
    assert signature.verify_ref("r-1", ["k1"]) is None
    # A webhook body signature (no context prefix) is not a refId signature.
    assert signature.verify_ref(f"r-1.{signature.sign(b'r-1', 'k1')}", ["k1"]) is None
