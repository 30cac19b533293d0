"""kyc.services.inbound_store in detail: every delivery is kept first, exactly as received
minus credentials, and a repeated dedupe key is kept as a duplicate pointing at the
original (each test kills mutants `make mutate` found)."""

from __future__ import annotations

import pytest

from kyc import services
from kyc.models import InboundEvent, TransferRequest
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_keeps_a_delivery_as_received_without_credentials(merchant) -> None:
    account = factories.ProviderAccountFactory(merchant=merchant, provider="blockpass")
    row, original = services.inbound_store(
        provider="blockpass",
        path="/hooks/blockpass/" + "p" * 600,
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer secret",
            "COOKIE": "sessionid=s",
            "Proxy-Authorization": "Basic x",
            "X-Api-Key": "k",
            "X-Blockpass-Delivery": "d-1",
        },
        body=b'{"a":1}',
        remote_addr="203.0.113.9",
        kind="k" * 70,
        account=account,
        state=InboundEvent.State.REFUSED,
        error="bad signature",
        verified=True,
    )
    assert original is None
    row = InboundEvent.objects.get(pk=row.pk)
    assert row.provider == "blockpass"
    assert row.merchant == merchant and row.account == account and row.transfer is None
    assert row.path == ("/hooks/blockpass/" + "p" * 600)[:500] and len(row.path) == 500
    assert row.kind == "k" * 60
    assert row.headers == {"Content-Type": "application/json", "X-Blockpass-Delivery": "d-1"}
    assert bytes(row.body) == b'{"a":1}' and row.body_size == 7
    assert row.remote_addr == "203.0.113.9"
    assert (row.state, row.error, row.verified) == ("refused", "bad signature", True)
    assert row.dedupe_key is None and row.duplicate_of is None


def test_it_names_the_merchant_through_the_request_when_no_account_is_known(merchant) -> None:
    account = factories.ProviderAccountFactory(merchant=merchant)
    transfer = TransferRequest.objects.create(
        merchant=merchant, account=account, provider="corepass", reference="r-1"
    )
    row, _ = services.inbound_store(
        provider="corepass", path="/cb", headers={}, body=None, remote_addr="", transfer=transfer
    )
    row = InboundEvent.objects.get(pk=row.pk)
    assert (row.merchant, row.account, row.transfer) == (merchant, account, transfer)
    assert row.body is None and row.body_size == 0 and row.remote_addr is None
    assert (row.state, row.error, row.verified, row.kind) == ("received", "", False, "")
    anonymous, _ = services.inbound_store(
        provider="corepass", path="/cb", headers={}, body=b"", remote_addr=None
    )
    anonymous = InboundEvent.objects.get(pk=anonymous.pk)
    assert (anonymous.merchant, anonymous.account, anonymous.transfer) == (None, None, None)


def test_it_keeps_a_repeated_delivery_as_a_duplicate_of_the_first(merchant) -> None:
    account = factories.ProviderAccountFactory(merchant=merchant, provider="blockpass")

    def store(body: bytes, key: str | None) -> tuple[InboundEvent, InboundEvent | None]:
        return services.inbound_store(
            provider="blockpass",
            path="/hooks/x/",
            headers={"X-Blockpass-Delivery": "d-1"},
            body=body,
            remote_addr="203.0.113.9",
            kind="webhook",
            account=account,
            dedupe_key=key,
            verified=True,
        )

    first, none = store(b"first", "blockpass:1:d-1")
    again, original = store(b"again", "blockpass:1:d-1")
    assert none is None and original is not None and original.pk == first.pk
    again = InboundEvent.objects.get(pk=again.pk)
    assert again.dedupe_key is None and again.duplicate_of_id == first.pk
    assert (again.state, again.error) == ("duplicate", f"duplicate of #{first.pk}")
    assert bytes(again.body) == b"again" and again.account == account and again.verified
    assert InboundEvent.objects.get(pk=first.pk).state == "received"
    # no key: never a duplicate, however alike
    a, _ = store(b"same", None)
    b, dup = store(b"same", None)
    assert dup is None and a.pk != b.pk
    assert InboundEvent.objects.filter(state="duplicate").count() == 1
