"""factory-boy factories for the core models.

Each factory writes the row the way the core's services would: encrypted fields get
plain values (the field encrypts them), a record's `external_key` is the keyed hash of
its `external_id` (kyc.services.records), an empty pepper is stored as None, and a row
that belongs to a record, request or account takes its merchant from it, so a test never
builds a request of one merchant through another merchant's account.

They write rows only: no audit entry, outbox message or review recomputation. A test
that is about those calls the service itself.
"""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from kyc.crypto import lookup_hash
from kyc.models import (
    Certificate,
    CertPromise,
    IdentityField,
    InboundEvent,
    KYCRecord,
    Membership,
    Merchant,
    ProviderAccount,
    ReviewState,
    TransferEvent,
    TransferRequest,
    WebhookEndpoint,
)
from kyc.outbox import new_secret


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    slug = factory.Sequence(lambda n: f"merchant-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw")


class MembershipFactory(factory.django.DjangoModelFactory):
    """A user's role at one merchant (the model's default role, viewer, unless given)."""

    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    merchant = factory.SubFactory(MerchantFactory)
    role = Membership.Role.VIEWER


class ProviderAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderAccount

    merchant = factory.SubFactory(MerchantFactory)
    provider = "corepass"
    enabled = True
    settings = factory.LazyFunction(dict)


def _merchant_of(*owners: str) -> Any:
    """The merchant of the first of `owners` (attribute names) that is set, else a new one."""
    declaration: Any = factory.SubFactory(MerchantFactory)
    for owner in reversed(owners):
        declaration = factory.Maybe(
            owner,
            yes_declaration=factory.SelfAttribute(f"{owner}.merchant"),
            no_declaration=declaration,
        )
    return declaration


class KYCRecordFactory(factory.django.DjangoModelFactory):
    """A customer; with `external_id`, also its lookup hash (as record_get_or_create sets)."""

    class Meta:
        model = KYCRecord

    merchant = factory.SubFactory(MerchantFactory)
    reference = factory.Sequence(lambda n: f"cust-{n}")
    provider = ""
    external_id = ""
    external_key = factory.LazyAttribute(
        lambda o: lookup_hash(o.external_id) if o.external_id else ""
    )


class TransferRequestFactory(factory.django.DjangoModelFactory):
    """A request. Without `account`, the merchant's enabled account at `provider` (made
    if missing); with one, the account's merchant and provider."""

    class Meta:
        model = TransferRequest

    account = None
    merchant = _merchant_of("account", "record")
    provider = factory.Maybe(
        "account",
        yes_declaration=factory.SelfAttribute("account.provider"),
        no_declaration="corepass",
    )
    record = None
    reference = factory.Maybe(
        "record",
        yes_declaration=factory.SelfAttribute("record.reference"),
        no_declaration=factory.Sequence(lambda n: f"ref-{n}"),
    )

    @classmethod
    def _adjust_kwargs(cls, **kwargs: Any) -> dict[str, Any]:
        if kwargs["account"] is None:
            kwargs["account"], _ = ProviderAccount.objects.get_or_create(
                merchant=kwargs["merchant"],
                provider=kwargs["provider"],
                defaults={"enabled": True},
            )
        return kwargs


class TransferEventFactory(factory.django.DjangoModelFactory):
    """One entry of a request's history (append-only: built once, never saved again)."""

    class Meta:
        model = TransferEvent

    transfer = factory.SubFactory(TransferRequestFactory)
    status = factory.SelfAttribute("transfer.status")
    source = "system"


class IdentityFieldFactory(factory.django.DjangoModelFactory):
    """One stored value, as identity_fields_store writes it: value and pepper encrypted by
    the field, an empty pepper as None, status `received` unless given."""

    class Meta:
        model = IdentityField

    record = factory.SubFactory(KYCRecordFactory)
    provider = factory.LazyAttribute(lambda o: o.record.provider or "corepass")
    key = factory.Sequence(lambda n: f"field_{n}")
    value = factory.Sequence(lambda n: f"value-{n}")
    pepper = None
    transfer = None
    status = ReviewState.RECEIVED
    received_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _adjust_kwargs(cls, **kwargs: Any) -> dict[str, Any]:
        kwargs["pepper"] = kwargs["pepper"] or None
        return kwargs


class _BlockpassItemFactory(factory.django.DjangoModelFactory):
    """What Blockpass brings a record (a certificate, or the promise of one), of the
    record's merchant."""

    class Meta:
        abstract = True

    record = None
    merchant = _merchant_of("record")
    provider = "blockpass"


class CertPromiseFactory(_BlockpassItemFactory):
    class Meta:
        model = CertPromise

    promise_id = factory.Sequence(lambda n: f"promise-{n}")


class CertificateFactory(_BlockpassItemFactory):
    class Meta:
        model = Certificate

    slug = "onfido-service-cert"
    external_id = factory.Sequence(lambda n: f"cert-{n}")


class InboundEventFactory(factory.django.DjangoModelFactory):
    """A stored provider delivery; merchant and account follow the request or account given
    (as inbound_store does), `body_size` follows the body."""

    class Meta:
        model = InboundEvent

    transfer = None
    account = factory.Maybe(
        "transfer", yes_declaration=factory.SelfAttribute("transfer.account"), no_declaration=None
    )
    merchant = factory.Maybe(
        "account",
        yes_declaration=factory.SelfAttribute("account.merchant"),
        no_declaration=factory.Maybe(
            "transfer",
            yes_declaration=factory.SelfAttribute("transfer.merchant"),
            no_declaration=None,
        ),
    )
    provider = factory.Maybe(
        "account",
        yes_declaration=factory.SelfAttribute("account.provider"),
        no_declaration="corepass",
    )
    kind = ""
    body = b"{}"
    body_size = factory.LazyAttribute(lambda o: len(o.body or b""))


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    """A merchant's endpoint for every event, with a fresh signing secret."""

    class Meta:
        model = WebhookEndpoint

    merchant = factory.SubFactory(MerchantFactory)
    url = factory.Sequence(lambda n: f"https://hooks{n}.example.com/kyc")
    events = factory.LazyFunction(lambda: ["*"])
    secret = factory.LazyFunction(new_secret)


def staff_user(
    merchant: Merchant,
    *,
    reveal: bool = False,
    role: str = Membership.Role.OWNER,
    **kwargs: Any,
) -> Any:
    """A staff user of one merchant with every kyc permission (reveal_pii only if asked).

    The role decides what they may do there (kyc.permissions); the default, owner, may do
    everything, so tests about something else are not about roles."""
    user = UserFactory(is_staff=True, **kwargs)
    perms = Permission.objects.filter(content_type__app_label__startswith="kyc")
    if not reveal:
        perms = perms.exclude(codename="reveal_pii")
    user.user_permissions.set(perms)
    MembershipFactory(user=user, merchant=merchant, role=role)
    return user
