"""The callback's first read, as SQL built once per process from the models themselves.

Django compiles a query anew on every call. A CorePass callback starts by locking its
request and reading its account and merchant with it (about 50 columns over three
tables): compiling that SELECT cost the web process about 1 ms of CPU per callback, three
times what running it costs. So the text is built once, from the models' own metadata
(quoted table and column names; no value is ever put into it, values go as parameters),
each column is converted by its field as the ORM would (decryption included), and the
rows become instances through Model.from_db, as the ORM's own do.
`tests/intake/test_prepared.py` holds that it reads what the ORM query reads, and locks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction

from kyc.models import Merchant, ProviderAccount, TransferRequest

# Never needed to receive a callback, and each costs: the account's cached provider
# tokens and the request's own secrets and QR text are encrypted (decrypted on every
# read), the merchant's logo is up to 200 KB.
SKIPPED = {
    TransferRequest: ("provider_secrets", "qr_payload"),
    ProviderAccount: ("state",),
    Merchant: ("logo",),
}


@dataclass(frozen=True)
class _Part:
    model: type[models.Model]
    attnames: list[str]
    # Per column: what the ORM's compiler applies to it (SQLCompiler.get_converters), and
    # the column expression they are called with.
    converters: tuple[tuple[tuple[Any, ...], Any], ...]

    def instance(self, values: tuple[Any, ...], conn: Any) -> models.Model:
        converted = []
        for value, (converters, col) in zip(values, self.converters, strict=True):
            for convert in converters:
                value = convert(value, col, conn)
            converted.append(value)
        return self.model.from_db(conn.alias, self.attnames, converted)


def _part(model: type[models.Model], conn: Any) -> _Part:
    fields = [f for f in model._meta.concrete_fields if f.name not in SKIPPED[model]]
    converters = []
    for f in fields:
        col = f.get_col(model._meta.db_table)
        converters.append(((*conn.ops.get_db_converters(col), *f.get_db_converters(conn)), col))
    return _Part(model, [f.attname for f in fields], tuple(converters))


@functools.cache
def _statement(lock: bool) -> tuple[str, tuple[_Part, ...]]:
    """SELECT request, account, merchant ... WHERE callback_token AND provider [FOR UPDATE
    OF the request], and the parts in column order."""
    conn = transaction.get_connection()
    quote = conn.ops.quote_name
    parts = tuple(_part(model, conn) for model in (TransferRequest, ProviderAccount, Merchant))

    def table(model: type[models.Model]) -> str:
        return quote(model._meta.db_table)

    def column(model: type[models.Model], name: str) -> str:
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field)  # a column of this model, not a reverse relation
        return f"{table(model)}.{quote(str(field.column))}"

    selected = ", ".join(
        f"{table(p.model)}.{quote(str(col.target.column))}"
        for p in parts
        for _, col in p.converters
    )
    transfer, account, merchant = TransferRequest, ProviderAccount, Merchant
    # Names only, from the models' metadata, each quoted; the values are parameters.
    sql = (
        f"SELECT {selected} FROM {table(transfer)}"  # noqa: S608
        f" INNER JOIN {table(account)} ON {column(transfer, 'account')} = {column(account, 'id')}"
        f" INNER JOIN {table(merchant)} ON {column(transfer, 'merchant')} = {column(merchant, 'id')}"
        f" WHERE {column(transfer, 'callback_token')} = %s AND {column(transfer, 'provider')} = %s"
        " LIMIT 1"
    )
    # As the ORM does: a database without row locks (SQLite, embedded mode) reads plainly.
    if lock and conn.features.has_select_for_update_of:
        sql += f" FOR UPDATE OF {table(transfer)}"
    elif lock and conn.features.has_select_for_update:
        sql += " FOR UPDATE"
    return sql, parts


def callback_transfer(*, token: str, provider: str, lock: bool) -> TransferRequest | None:
    """The request behind a per-request callback URL with its account and merchant loaded,
    locked (FOR UPDATE OF the request) when `lock`; None for an unknown token."""
    sql, parts = _statement(lock)
    conn = transaction.get_connection()  # the connection itself, not the per-thread proxy
    with conn.cursor() as cursor:
        cursor.execute(sql, [token, provider])
        row = cursor.fetchone()
    if row is None:
        return None
    objects = []
    start = 0
    for part in parts:
        end = start + len(part.attnames)
        objects.append(part.instance(row[start:end], conn))
        start = end
    transfer, account, merchant = objects
    TransferRequest.account.field.set_cached_value(transfer, account)
    TransferRequest.merchant.field.set_cached_value(transfer, merchant)
    return transfer  # type: ignore[return-value]
