"""Data the bench needs, written straight to the bench database (Django is set up by run.py).

Bulk rows go in through one INSERT ... SELECT generate_series per table: the
admin figure needs 100,000 rows in seconds, and the encrypted columns get one
real ciphertext each (computed by the field itself), so the admin decrypts them
exactly as it would decrypt real rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone


def merchant_account(*, provider: str, settings: Mapping[str, Any] | None = None) -> Any:
    """The bench merchant and its enabled account at one provider."""
    from kyc.models import Merchant, ProviderAccount

    merchant, _ = Merchant.objects.get_or_create(slug="bench", defaults={"name": "Bench merchant"})
    account, _ = ProviderAccount.objects.get_or_create(merchant=merchant, provider=provider)
    account.enabled = True
    if settings is not None:
        account.settings = dict(settings)
    account.save()
    return account


def open_transfer(*, account: Any, reference: str, status: str = "pending") -> Any:
    """One open TransferRequest with its first timeline entry (no provider call, no QR)."""
    from kyc.models import KYCRecord, TransferEvent, TransferRequest

    record, _ = KYCRecord.objects.get_or_create(
        merchant=account.merchant, reference=reference, defaults={"provider": account.provider}
    )
    t = TransferRequest.objects.create(
        merchant=account.merchant,
        account=account,
        provider=account.provider,
        record=record,
        reference=reference,
        status=status,
        expires_at=timezone.now() + dt.timedelta(hours=2),
    )
    TransferEvent.objects.create(transfer=t, status=status, detail="bench", source="system")
    return t


def bulk_insert(
    model: type[models.Model],
    count: int,
    varying: Mapping[str, str],
    constants: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
) -> None:
    """INSERT `count` rows: `varying` maps column -> SQL over the series value `g`
    (with %(name)s params), `constants` maps field -> Python value, prepared by the field."""
    cols: list[str] = []
    exprs: list[str] = []
    values: dict[str, Any] = dict(params or {})
    for f in model._meta.concrete_fields:
        column = str(f.column)
        if column in varying:
            cols.append(column)
            exprs.append(varying[column])
        elif f.name in constants or (not f.primary_key and (f.has_default() or not f.null)):
            # A field added to the model later gets its default: seeding keeps working.
            value = constants[f.name] if f.name in constants else f.get_default()
            key = f"c_{column}"
            cols.append(column)
            exprs.append(f"%({key})s")
            values[key] = f.get_db_prep_save(value, connection)
    values["count"] = count
    sql = (
        f'INSERT INTO "{model._meta.db_table}" ({", ".join(cols)}) '
        f"SELECT {', '.join(exprs)} FROM generate_series(1, %(count)s) AS g"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, values)


def transfer_constants(*, account: Any, now: dt.datetime, **fields: Any) -> dict[str, Any]:
    """bulk_insert constants for TransferRequests of `account`: no provider data, no QR,
    no expiry, touched `now`; `fields` set or add the columns a part cares about."""
    return {
        "merchant": account.merchant_id,
        "account": account.pk,
        "provider": account.provider,
        "subject": "",
        "items": [],
        "provider_status": "",
        "provider_rank": 0,
        "failure_code": "",
        "status_detail": "",
        "provider_ref": "",
        "provider_data": {},
        "provider_secrets": {},
        "qr_payload": "",
        "qr_svg": "",
        "deep_link": "",
        "redirect_url": "",
        "expires_at": None,
        "created_by": None,
        "updated_at": now,
        "last_heard_at": now,
        **fields,
    }


def admin_rows(*, account: Any, count: int, batch: str) -> None:
    """`count` KYCRecords and as many TransferRequests (one per record), in one go each."""
    from kyc.models import KYCRecord, TransferRequest

    now = timezone.now()
    bulk_insert(
        KYCRecord,
        count,
        varying={
            "reference": f"'{batch}-' || g",
            "created_at": "%(now)s - g * interval '1 second'",
        },
        constants={
            "merchant": account.merchant_id,
            "provider": account.provider,
            "external_id": "",
            "external_key": "",
            "review_status": "inreview",
            "review_comment": "",
            "secrets": {},
            "updated_at": now,
            "erased_at": None,
        },
        params={"now": now},
    )
    bulk_insert(
        TransferRequest,
        count,
        varying={
            "id": "gen_random_uuid()",
            "record_id": (
                f'(SELECT r.id FROM "{KYCRecord._meta.db_table}" r '
                f"WHERE r.merchant_id = %(merchant)s AND r.reference = '{batch}-' || g)"
            ),
            "reference": f"'{batch}-' || g",
            "page_token": f"'{batch}p' || md5(random()::text || g)",
            "callback_token": f"'{batch}c' || md5(random()::text || g)",
            "created_at": "%(now)s - g * interval '1 second'",
        },
        constants=transfer_constants(
            account=account,
            now=now,
            status="completed",
            provider_status="FINISH_SUCCESS",
            provider_rank=15,
            completed_at=now,
        ),
        params={"now": now, "merchant": account.merchant_id},
    )


def superuser(*, username: str, password: str) -> Any:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_superuser(username=username, email="", password=password)
    return user


def clone_transfers(*, template: Any, count: int, batch: str) -> list[str]:
    """`count` copies of a TransferRequest (same account, subject, items, provider data), each
    with its own record, tokens and reference. Returns their callback tokens in order."""
    from kyc.models import KYCRecord, TransferRequest

    now = timezone.now()
    bulk_insert(
        KYCRecord,
        count,
        varying={"reference": f"'{batch}-' || g"},
        constants={
            "merchant": template.merchant_id,
            "provider": template.provider,
            "external_id": "",
            "external_key": "",
            "review_status": "waiting",
            "review_comment": "",
            "secrets": {},
            "created_at": now,
            "updated_at": now,
            "erased_at": None,
        },
    )
    varying = {
        "id": "gen_random_uuid()",
        "record_id": (
            f'(SELECT r.id FROM "{KYCRecord._meta.db_table}" r '
            f"WHERE r.merchant_id = %(merchant)s AND r.reference = '{batch}-' || g)"
        ),
        "reference": f"'{batch}-' || g",
        "page_token": f"'{batch}p' || g || md5(random()::text)",
        "callback_token": f"'{batch}c' || lpad(g::text, 8, '0') || md5(random()::text)",
    }
    constants = {
        f.name: getattr(template, f.attname)
        for f in TransferRequest._meta.concrete_fields
        if f.column not in varying
    }
    constants.update(created_at=now, updated_at=now)
    bulk_insert(
        TransferRequest,
        count,
        varying=varying,
        constants=constants,
        params={"merchant": template.merchant_id},
    )
    return list(
        TransferRequest.objects.filter(callback_token__startswith=f"{batch}c")
        .order_by("callback_token")
        .values_list("callback_token", flat=True)
    )
