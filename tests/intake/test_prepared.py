"""kyc.prepared: a callback's statements, built once per process, do what the ORM's do.

What must hold: the first read gets the request, its account and its merchant exactly as
the ORM query it replaces (every column it loads, converted and decrypted the same way),
leaves only the named columns unread, needs no further query for the account or
merchant, answers None for an unknown token or another provider's, and locks the
request's row (only that row) when asked. The inserts store the rows save() and
bulk_create store; the update writes what save(update_fields=...) writes; neither skips
anything the models or signals would have done. PostgreSQL prepares each statement once per
connection, its values bound as parameters, and none with DATABASE_PREPARED_STATEMENTS off.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, models, transaction
from django.db.models.signals import post_save, pre_save

from kyc import prepared
from kyc.models import (
    InboundEvent,
    Merchant,
    ProviderAccount,
    TransferEvent,
    TransferRequest,
    WebhookMessage,
)
from kyc.status import Status
from tests.conftest import row_locked
from tests.factories import TransferRequestFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def transfer(merchant: Merchant) -> TransferRequest:
    t = TransferRequestFactory(
        merchant=merchant,
        provider="corepass",
        subject="cb1234abcd",  # encrypted at rest: read back decrypted
        items=["SH_EMAIL", "PHONE"],
        provider_data={"expiration": 1234},
        provider_secrets={"kept": "out"},
        qr_payload="corepass:sign?x=1",
        deep_link="corepass:sign?x=1",
    )
    account = t.account
    account.settings = {"connector_url": "http://127.0.0.1:9", "default_items": "SH_EMAIL"}
    account.save()
    return t


def _loaded(obj: Any) -> dict[str, Any]:
    deferred = obj.get_deferred_fields()
    return {
        f.attname: getattr(obj, f.attname)
        for f in obj._meta.concrete_fields
        if f.attname not in deferred
    }


def test_it_reads_what_the_orm_reads(
    transfer: TransferRequest, django_assert_num_queries: Any
) -> None:
    orm = (
        TransferRequest.objects.select_related("account", "merchant")
        .defer("account__state", "merchant__logo", "provider_secrets", "qr_payload")
        .get(callback_token=transfer.callback_token)
    )
    with django_assert_num_queries(1):
        got = prepared.callback_transfer(
            token=transfer.callback_token, provider="corepass", lock=False
        )
        assert got is not None
        account, merchant = got.account, got.merchant  # loaded with it: no query
    assert _loaded(got) == _loaded(orm)
    assert _loaded(account) == _loaded(orm.account)
    assert _loaded(merchant) == _loaded(orm.merchant)
    assert got.subject == "cb1234abcd" and got.items == ["SH_EMAIL", "PHONE"]
    assert account.settings["default_items"] == "SH_EMAIL"
    assert got.get_deferred_fields() == {"provider_secrets", "qr_payload"}
    assert account.get_deferred_fields() == {"state"}
    assert merchant.get_deferred_fields() == {"logo"}
    assert not got._state.adding and got._state.db == "default"
    # A column it left unread is still there when asked for (one query).
    assert got.provider_secrets == {"kept": "out"}


def test_it_saves_like_an_orm_row(transfer: TransferRequest) -> None:
    got = prepared.callback_transfer(token=transfer.callback_token, provider="corepass", lock=False)
    assert got is not None
    got.status_detail = "changed"
    got.save()  # writes the loaded columns only; the unread ones are left as they were
    transfer.refresh_from_db()
    assert transfer.status_detail == "changed"
    assert transfer.provider_secrets == {"kept": "out"}
    assert transfer.qr_payload == "corepass:sign?x=1"


def test_an_unknown_token_or_another_provider_reads_nothing(transfer: TransferRequest) -> None:
    assert prepared.callback_transfer(token="nope", provider="corepass", lock=False) is None
    assert (
        prepared.callback_transfer(token=transfer.callback_token, provider="incode", lock=False)
        is None
    )
    # A page token is not a callback token.
    assert (
        prepared.callback_transfer(token=transfer.page_token, provider="corepass", lock=False)
        is None
    )


def test_it_locks_the_request_row_only_when_asked(transfer: TransferRequest) -> None:
    with transaction.atomic():
        prepared.callback_transfer(token=transfer.callback_token, provider="corepass", lock=False)
        assert not row_locked(TransferRequest, transfer.pk)
    with transaction.atomic():
        prepared.callback_transfer(token=transfer.callback_token, provider="corepass", lock=True)
        assert row_locked(TransferRequest, transfer.pk)
        # FOR UPDATE OF the request: the account and merchant stay free for others.
        assert not row_locked(ProviderAccount, transfer.account_id)
        assert not row_locked(Merchant, transfer.merchant_id)
    assert not row_locked(TransferRequest, transfer.pk)


def _row(model: type[models.Model], pk: Any, *skip: str) -> dict[str, Any]:
    row = model.objects.get(pk=pk)
    return {
        f.attname: getattr(row, f.attname)
        for f in model._meta.concrete_fields
        if f.attname not in ("id", *skip)
    }


def test_an_insert_stores_the_row_save_stores(transfer: TransferRequest) -> None:
    def entry() -> TransferEvent:
        return TransferEvent(
            transfer=transfer, status="accepted", provider_status="ACCEPTED", detail="d"
        )

    fast = entry()
    prepared.insert(fast)
    orm = TransferEvent.objects.create(
        transfer=transfer, status="accepted", provider_status="ACCEPTED", detail="d"
    )
    assert fast.pk and fast.pk != orm.pk and not fast._state.adding
    assert _row(TransferEvent, fast.pk, "created_at") == _row(TransferEvent, orm.pk, "created_at")
    assert fast.created_at is not None  # its default, filled in like save() fills it
    with pytest.raises(ValueError):  # a stored row is never inserted again
        prepared.insert(fast)


def test_several_rows_go_in_one_insert_like_bulk_create(
    merchant: Merchant, django_assert_num_queries: Any
) -> None:
    def messages(tag: str) -> list[WebhookMessage]:
        return [
            WebhookMessage(merchant=merchant, msg_id=f"msg_{tag}{n}", event_type=t, data={"n": n})
            for n, t in enumerate(("verification.updated", "verification.completed"))
        ]

    fast = messages("fast")
    with django_assert_num_queries(1):
        prepared.insert(*fast)
    orm = WebhookMessage.objects.bulk_create(messages("orm"))
    for a, b in zip(fast, orm, strict=True):
        assert a.pk and a.pk == WebhookMessage.objects.get(msg_id=a.msg_id).pk  # ids in order
        skip = ("msg_id", "created_at")
        assert _row(WebhookMessage, a.pk, *skip) == _row(WebhookMessage, b.pk, *skip)
    with pytest.raises(ValueError):  # one model at a time
        prepared.insert(WebhookMessage(merchant=merchant, msg_id="m"), TransferEvent())


def test_an_update_writes_what_save_with_update_fields_writes(transfer: TransferRequest) -> None:
    before = TransferRequest.objects.get(pk=transfer.pk).updated_at
    transfer.status, transfer.status_detail = Status.ACCEPTED, "accepted"
    transfer.subject = "not written"  # not named: left as stored
    prepared.update(transfer, ("status", "status_detail", "updated_at"))
    stored = TransferRequest.objects.get(pk=transfer.pk)
    assert (stored.status, stored.status_detail) == (Status.ACCEPTED, "accepted")
    assert stored.subject == "cb1234abcd"
    assert stored.updated_at > before and stored.updated_at == transfer.updated_at  # auto_now
    TransferRequest.objects.filter(pk=transfer.pk).delete()
    with pytest.raises(DatabaseError):  # as save(update_fields=...) raises for a gone row
        prepared.update(transfer, ("status",))


def test_nothing_is_skipped_by_not_calling_save() -> None:
    # The prepared statements do what save() does only while the models add nothing to it.
    for model in (InboundEvent, WebhookMessage, TransferRequest, TransferEvent):
        assert not pre_save.has_listeners(model), model
        assert not post_save.has_listeners(model), model
    assert InboundEvent.save is models.Model.save
    assert WebhookMessage.save is models.Model.save
    assert TransferRequest.save is models.Model.save
    # TransferEvent's save() only refuses stored rows (append-only), as prepared.insert does.
    assert TransferEvent.save.__code__.co_names == ("pk", "get", "AppendOnlyError", "super", "save")


def test_postgresql_prepares_each_statement_once_per_connection(
    transfer: TransferRequest, django_assert_num_queries: Any
) -> None:
    from django.db import connection

    def prepared_here() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall()]

    for _ in range(3):
        with django_assert_num_queries(1):  # still seen by Django's query log
            got = prepared.callback_transfer(
                token=transfer.callback_token, provider="corepass", lock=False
            )
        assert got is not None and got.subject == "cb1234abcd"
        prepared.insert(TransferEvent(transfer=transfer, status="accepted", detail="d"))
    reads = [s for s in prepared_here() if "callback_token" in s and s.startswith("SELECT")]
    inserts = [s for s in prepared_here() if s.startswith('INSERT INTO "kyc_transferevent"')]
    # Once each, with the values bound as parameters ($1...), not written into the text.
    assert len(reads) == 1 and "$1" in reads[0] and transfer.callback_token not in reads[0]
    assert len(inserts) == 1 and "$1" in inserts[0]
    assert TransferEvent.objects.filter(transfer=transfer, detail="d").count() == 3


def test_nothing_is_prepared_when_the_setting_is_off(
    transfer: TransferRequest, settings: Any
) -> None:
    from django.db import connection

    settings.DATABASE_PREPARED_STATEMENTS = False  # behind a pooler that cannot keep them
    connection.close()  # a fresh connection: nothing prepared on it yet
    for _ in range(3):
        got = prepared.callback_transfer(
            token=transfer.callback_token, provider="corepass", lock=False
        )
        assert got is not None and got.subject == "cb1234abcd"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == 0


def test_a_migration_that_changes_a_read_columns_type_fails_one_read_then_heals(
    transfer: TransferRequest,
) -> None:
    import psycopg
    from django.db import connection

    def read() -> TransferRequest | None:
        with transaction.atomic():  # as a callback reads it: locked, in its transaction
            return prepared.callback_transfer(
                token=transfer.callback_token, provider="corepass", lock=True
            )

    assert read() is not None  # prepared on this connection
    params = connection.get_connection_params()
    table, column = TransferRequest._meta.db_table, "provider_status"
    alter = f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE varchar(%s)'
    # Another process migrates (a new process would run the new code on a new connection).
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute(alter % 41)
    try:
        with pytest.raises(DatabaseError, match="cached plan must not change result type"):
            read()  # the one that fails: the callback is answered 503 and retried
        got = read()  # the rollback made psycopg forget its prepared statements
        assert got is not None and got.pk == transfer.pk
    finally:
        with psycopg.connect(**params, autocommit=True) as other:
            other.execute(alter % 40)
