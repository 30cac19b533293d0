"""Two merchants with one object of every merchant-owned model each (see builder.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.db import models
from django.test import RequestFactory
from rest_framework.test import APIClient

from kyc import services
from kyc.admin.base import _merchant_field
from kyc.models import Merchant
from tests import factories
from tests.isolation.builder import Builder, exact_filters

A_TAG, B_TAG = "aaazq", "bbbzq"


@dataclass
class Side:
    merchant: Merchant
    builder: Builder
    api: APIClient
    staff: Any
    objects: dict[type[models.Model], models.Model] = field(default_factory=dict)


def _leads_to_merchant(model: type[models.Model], seen: frozenset = frozenset()) -> bool:
    if model is Merchant:
        return True
    if model in seen:
        return False
    return any(
        f.is_relation
        and f.many_to_one | f.one_to_one
        and f.related_model is not None
        and _leads_to_merchant(f.related_model, seen | {model})
        for f in model._meta.concrete_fields
    )


def owned_models() -> list[type[models.Model]]:
    """Every model that belongs to one merchant: directly, via its record or transfer, or
    through any chain of foreign keys (e.g. a flow's step -> run -> merchant)."""
    return [
        m
        for m in apps.get_models()
        if m is not Merchant and (_merchant_field(m) or _leads_to_merchant(m))
    ]


def make_side(tag: str) -> Side:
    merchant = Merchant.objects.create(name=f"{tag} Holdings", slug=f"{tag}-holdings")
    builder = Builder(merchant, tag)
    objects = {m: builder.get(m) for m in owned_models() if not m._meta.proxy}
    # proxy models (e.g. a flow's "requests in review"): a row their admin actually lists
    superuser = SimpleNamespace(is_superuser=True, is_authenticated=True, is_active=True)
    for model, model_admin in admin.site._registry.items():
        if model._meta.proxy and model in owned_models():
            request = RequestFactory().get("/")
            request.user = superuser
            objects[model] = builder.fresh(
                model, **exact_filters(model_admin.get_queryset(request))
            )
    _, raw = services.api_key_create(merchant=merchant, name=f"{tag}-key")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    staff = factories.staff_user(merchant, reveal=True, username=f"{tag}-staff")
    return Side(merchant=merchant, builder=builder, api=api, staff=staff, objects=objects)
