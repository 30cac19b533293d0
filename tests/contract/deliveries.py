"""One valid delivery per provider that receives them, built the way the provider sends
it (signed where it signs), and a way to forge it. The contract suite, faults, abuse and
isolation tests take their deliveries from here instead of building providers by hand.

A provider with inbound endpoints and no case here fails tests/contract/test_deliveries.py.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kyc import registry
from kyc.models import KYCRecord, Merchant, ProviderAccount, TransferRequest


@dataclass(frozen=True)
class Delivery:
    """What the provider posts: url, body and headers (Django test-client keywords), and
    the customer's record the delivery is about, where it is about one."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    record: KYCRecord | None = None

    @property
    def token(self) -> str:
        """The secret part of the URL (the account's or the request's token)."""
        parts = [p for p in self.url.split("/") if p]
        return parts[3] if parts[2] == "t" else parts[2]


@dataclass(frozen=True)
class Case:
    provider: str
    good: Callable[[Merchant], Delivery]
    forge: Callable[[Delivery], Delivery]
    signed: bool  # forged by a bad signature (else by a wrong token in the URL)

    def __str__(self) -> str:
        return self.provider


def _wrong_token(d: Delivery) -> Delivery:
    return dataclasses.replace(d, url=d.url.replace(d.token, "x" + d.token[1:][::-1]))


def corepass_request(
    merchant: Merchant, *, key: object, last_digit: str = "7"
) -> tuple[TransferRequest, str]:
    """A CorePass account trusting `key` (the connector's Ed448 key) and a pending request
    for a valid CoreID (ending in `last_digit`); returns the request and the CoreID."""
    from providers.corepass import coreid
    from providers.corepass import signature as sig

    account = ProviderAccount.objects.create(
        merchant=merchant,
        provider="corepass",
        enabled=True,
        settings={
            "connector_url": "http://127.0.0.1:9",
            "connector_public_key": sig.public_bytes(key).hex(),  # type: ignore[arg-type]
        },
    )
    body40 = "0" * 39 + last_digit
    user = "ab" + coreid.check_digits("ab", body40) + body40
    record = KYCRecord.objects.create(merchant=merchant, reference="cp")
    t = pending_request(account, "cp", subject=user, items=["SH_EMAIL"], record=record)
    return t, user


def pending_request(account: ProviderAccount, reference: str, **fields: Any) -> TransferRequest:
    """A pending request on `account` (its merchant and provider), with `fields` set."""
    return TransferRequest.objects.create(
        merchant=account.merchant,
        account=account,
        provider=account.provider,
        reference=reference,
        status="pending",
        **fields,
    )


def corepass_status(
    key: object,
    user: str,
    *,
    status: str = "ACCEPTED",
    deadline: int | None = None,
    expiration: int | None = None,
) -> bytes:
    """A status callback body for `user` sharing SH_EMAIL, signed with `key` (Ed448), as
    the connector sends it; the deadline defaults to 2 minutes from now."""
    from providers.corepass import signature as sig

    now = int(time.time())
    fields = [sig.field_hash("SH_EMAIL")]
    expiration = now + 600 if expiration is None else expiration
    deadline = now + 120 if deadline is None else deadline
    unsigned = {
        "user": user,
        "fields": fields,
        "status": status,
        "expiration": expiration,
        "deadline": deadline,
    }
    body = sig.sign_status(key, unsigned)  # type: ignore[arg-type]
    return json.dumps(body).encode()


def corepass(merchant: Merchant) -> Delivery:
    from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey

    key = Ed448PrivateKey.generate()
    t, user = corepass_request(merchant, key=key)
    url = f"/hooks/corepass/t/{t.callback_token}/status"
    return Delivery(url, corepass_status(key, user), {}, t.record)


def corepass_forged(d: Delivery) -> Delivery:
    """Signed by another key than the connector's."""
    from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey

    b = json.loads(d.body)
    body = corepass_status(
        Ed448PrivateKey.generate(),
        b["user"],
        status=b["status"],
        deadline=b["deadline"],
        expiration=b["expiration"],
    )
    return dataclasses.replace(d, body=body)


def blockpass_account(
    merchant: Merchant, *, webhook_secret: str = "w", api_url: str = "http://127.0.0.1:9"
) -> ProviderAccount:
    """A Blockpass account (client "c") at `api_url` (default: a closed loopback port)
    whose webhooks are signed with `webhook_secret`."""
    return ProviderAccount.objects.create(
        merchant=merchant,
        provider="blockpass",
        enabled=True,
        settings={
            "api_url": api_url,
            "client_id": "c",
            "client_secret": "s",
            "webhook_secret": webhook_secret,
        },
    )


def blockpass_webhook(
    account: ProviderAccount, payload: dict[str, Any], *, secret: str, delivery_id: str = ""
) -> Delivery:
    """`payload` as Blockpass posts it to `account`: its action as the event, a delivery id
    (a new one unless given) and the body signed with `secret`."""
    from providers.blockpass import signature as sig

    body = json.dumps(payload).encode()
    headers = {
        "HTTP_X_BLOCKPASS_EVENT": str(payload.get("action", "")),
        "HTTP_X_BLOCKPASS_DELIVERY": delivery_id or str(uuid.uuid4()),
        "HTTP_X_BLOCKPASS_SIGNATURE": sig.sign(body, secret),
    }
    return Delivery(f"/hooks/blockpass/{account.webhook_token}/", body, headers)


def blockpass_resolved(
    blockpass_id: str, *, promise_id: str = "", env: str = "prod"
) -> dict[str, Any]:
    """A certificate promise resolved for customer `blockpass_id` ("certPormise" is
    Blockpass's own spelling); a new promise id unless given."""
    return {
        "action": "certPormise.resolved",
        "env": env,
        "isPing": False,
        "data": {"certPromisesId": promise_id or uuid.uuid4().hex, "blockpassID": blockpass_id},
    }


def blockpass(merchant: Merchant) -> Delivery:
    payload = {"action": "serviceInfo.updated", "env": "prod", "data": {"clientId": "c"}}
    return blockpass_webhook(blockpass_account(merchant), payload, secret="w")


def blockpass_forged(d: Delivery) -> Delivery:
    """Signed with another secret than the account's webhook secret."""
    from providers.blockpass import signature as sig

    headers = {
        **d.headers,
        "HTTP_X_BLOCKPASS_DELIVERY": str(uuid.uuid4()),
        "HTTP_X_BLOCKPASS_SIGNATURE": sig.sign(d.body, "not-w"),
    }
    return dataclasses.replace(d, headers=headers)


def sandbox_account(merchant: Merchant, provider: str) -> ProviderAccount:
    """An enabled account on the provider's sandbox settings (a closed loopback port)."""
    return ProviderAccount.objects.create(
        merchant=merchant,
        provider=provider,
        enabled=True,
        settings=registry.get(provider).sandbox_settings(
            sandbox_url=f"http://127.0.0.1:9/sandbox/{provider}"
        ),
    )


def portmone(merchant: Merchant) -> Delivery:
    account = sandbox_account(merchant, "portmone")
    body = json.dumps({"id": "share-x", "status": "approved"}).encode()
    return Delivery(f"/hooks/portmone/{account.webhook_token}/", body)


def incode(merchant: Merchant) -> Delivery:
    account = sandbox_account(merchant, "incode")
    record = KYCRecord.objects.create(merchant=merchant, reference="in")
    pending_request(account, "in", provider_ref="iv-1", record=record)
    body = json.dumps({"interviewId": "iv-1", "onboardingStatus": "ONBOARDING_FINISHED"}).encode()
    return Delivery(f"/hooks/incode/{account.webhook_token}/", body, {}, record)


CASES: dict[str, Case] = {
    c.provider: c
    for c in (
        Case("corepass", corepass, corepass_forged, signed=True),
        Case("blockpass", blockpass, blockpass_forged, signed=True),
        Case("portmone", portmone, _wrong_token, signed=False),
        Case("incode", incode, _wrong_token, signed=False),
    )
}


def post(client, d: Delivery):  # type: ignore[no-untyped-def]
    return client.post(d.url, d.body, content_type="application/json", **d.headers)
