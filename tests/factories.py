from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from kyc.models import Membership, Merchant, ProviderAccount


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


class ProviderAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderAccount

    merchant = factory.SubFactory(MerchantFactory)
    provider = "corepass"
    enabled = True
    settings = factory.LazyFunction(dict)


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
    Membership.objects.create(user=user, merchant=merchant, role=role)
    return user
