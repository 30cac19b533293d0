"""Build one object of any model for a merchant, filling every field generically.

The isolation matrix, key rotation and retention tests iterate
`apps.get_models()` / `admin.site._registry`, so models added later by the
provider flow apps are covered without anyone editing these tests. Every
encrypted field gets a planted value that tests can grep for.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from kyc.crypto import EncryptedBytesField, EncryptedJSONField, EncryptedMixin, encrypted_fields
from kyc.models import Membership, Merchant

_counter = itertools.count(1)


def planted(tag: str, model: type[models.Model], field: models.Field) -> str:
    return f"PLANTED-{tag}-{model._meta.model_name}-{field.name}"


def planted_value(tag: str, model: type[models.Model], field: models.Field) -> Any:
    text = planted(tag, model, field)
    if isinstance(field, EncryptedBytesField):
        return text.encode()
    if isinstance(field, EncryptedJSONField):
        return {"secret": text, "nested": {"token": text}}
    return text


def _plain_value(tag: str, field: models.Field) -> Any:
    n = next(_counter)
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.BooleanField):
        return field.default if isinstance(field.default, bool) else False
    if isinstance(field, models.EmailField):
        return f"{tag}{n}@example.com"
    if isinstance(field, models.URLField):
        return f"https://example.com/{tag}/{n}"
    if isinstance(field, models.GenericIPAddressField):
        return "127.0.0.1"
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return dt.date.today()
    if isinstance(field, models.DurationField):
        return dt.timedelta(seconds=60)
    if isinstance(field, models.DecimalField):
        return Decimal("1")
    if isinstance(field, models.FloatField):
        return 1.0
    if isinstance(field, models.IntegerField):
        return 1
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.BinaryField):
        return b"x"
    if isinstance(field, models.CharField | models.TextField):
        value = f"{tag}-{field.name}-{n}"
        return value[-field.max_length :] if field.max_length else value
    return None


class Builder:
    """One object per model per merchant, built with every relation pointing at that merchant."""

    def __init__(self, merchant: Merchant, tag: str) -> None:
        self.merchant = merchant
        self.tag = tag
        self.built: dict[type[models.Model], models.Model] = {Merchant: merchant}

    def user(self) -> Any:
        User = get_user_model()
        if User not in self.built:
            user = User.objects.create_user(username=f"{self.tag}-user-{next(_counter)}")
            self.built[Membership] = Membership.objects.create(user=user, merchant=self.merchant)
            self.built[User] = user
        return self.built[User]

    def get(self, model: type[models.Model]) -> models.Model:
        model = model._meta.concrete_model or model
        if model in self.built:
            return self.built[model]
        if model is get_user_model() or model is Membership:
            self.user()
            return self.built[model]
        kwargs: dict[str, Any] = {}
        for field in model._meta.concrete_fields:
            if field.primary_key and (field.has_default() or isinstance(field, models.AutoField)):
                continue
            if isinstance(field, EncryptedMixin):
                kwargs[field.name] = planted_value(self.tag, model, field)
            elif field.is_relation:
                target = field.related_model
                if target is model or target in _BUILDING:
                    continue  # self-references and cycles stay empty
                _BUILDING.add(model)
                try:
                    kwargs[field.name] = self.get(target)
                finally:
                    _BUILDING.discard(model)
            elif (
                field.has_default()
                or getattr(field, "auto_now", False)
                or getattr(field, "auto_now_add", False)
            ):
                continue
            elif field.null:
                continue
            else:
                kwargs[field.name] = _plain_value(self.tag, field)
        for name in ("reference", "slug", "external_id", "promise_id", "name", "key"):
            f = _field(model, name)
            if (
                f is not None
                and not f.is_relation
                and not isinstance(f, EncryptedMixin)
                and not f.choices
            ):
                kwargs[name] = f"{self.tag}-{name}-{next(_counter)}"
        try:
            obj = model._default_manager.create(**kwargs)
        except Exception as exc:  # say which model the generic builder could not make
            raise AssertionError(
                f"tests/isolation/builder.py could not create a {model._meta.label}: {exc!r}; "
                "give the field a default or extend the builder"
            ) from exc
        self.built[model] = obj
        return obj

    def fresh(self, model: type[models.Model], **overrides: Any) -> models.Model:
        """A new row (not the cached one) of the model's concrete table, with overrides."""
        concrete = model._meta.concrete_model or model
        cached = self.built.pop(concrete, None)
        try:
            obj = self.get(concrete)
        finally:
            if cached is not None:
                self.built[concrete] = cached
        if overrides:
            concrete._default_manager.filter(pk=obj.pk).update(**overrides)
        return model._default_manager.get(pk=obj.pk)


_BUILDING: set[type[models.Model]] = set()


def exact_filters(qs: Any) -> dict[str, Any]:
    """field=value pairs of a queryset's top-level exact filters (e.g. a proxy admin's
    `.filter(provider="incode", status="review")`), to build a row that it shows."""
    out: dict[str, Any] = {}
    for child in qs.query.where.children:
        target = getattr(getattr(child, "lhs", None), "target", None)
        if getattr(child, "lookup_name", "") == "exact" and target is not None:
            if not target.is_relation and not hasattr(child.rhs, "resolve_expression"):
                out[target.attname] = child.rhs
    return out


def _field(model: type[models.Model], name: str) -> models.Field | None:
    try:
        return model._meta.get_field(name)  # type: ignore[return-value]
    except Exception:
        return None


def models_with_encrypted_fields() -> list[type[models.Model]]:
    from django.apps import apps

    return [m for m in apps.get_models() if encrypted_fields(m) and not m._meta.proxy]
