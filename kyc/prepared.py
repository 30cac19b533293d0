"""The delivery paths' statements, as SQL built once per process from the models themselves.

Django compiles a query anew on every call. A CorePass callback starts by locking its
request and reading its account and merchant with it (about 50 columns over three
tables): compiling that SELECT cost the web process about 1 ms of CPU per callback, three
times what running it costs; its INSERTs and UPDATE cost the same way. So the text is
built once, from the models' own metadata (quoted table and column names; no value is
ever put into it, values go as parameters); each column read is converted by its field as
the ORM would (decryption included) and rows become instances through Model.from_db, as
the ORM's own do; each column written is prepared by its field as save() has it prepared.
On PostgreSQL the server prepares each of them once per connection too (values bound as
parameters, DATABASE_PREPARED_STATEMENTS): parsing and planning them again cost the
database about a third of a callback's time there.
`tests/intake/test_prepared.py` holds that they read and write what the ORM does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, models, transaction

from kyc.models import Merchant, ProviderAccount, TransferRequest

# Never needed to receive a callback, and each costs: the account's cached provider
# tokens and the request's own secrets and QR text are encrypted (decrypted on every
# read), the merchant's logo is up to 200 KB.
SKIPPED = {
    TransferRequest: ("provider_secrets", "qr_payload"),
    ProviderAccount: ("state",),
    Merchant: ("logo",),
}


def _preparing_cursor_class() -> type | None:
    """On PostgreSQL through psycopg 3: a cursor that binds values server-side and has the
    server prepare each statement once per connection; psycopg remembers which are
    prepared, so a repeat is neither parsed nor planned (planning the callback's
    three-table read cost PostgreSQL more than running it). Django's own cursors bind
    client-side and are never prepared; these statements' text never changes, only values."""
    try:
        from django.db.backends.postgresql.base import ServerBindingCursor
    except (ImportError, AttributeError):  # psycopg2, or no PostgreSQL driver at all
        return None

    class PreparingCursor(ServerBindingCursor):  # type: ignore[misc, valid-type]
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, prepare=True, **kwargs)  # type: ignore[misc]

        def _convert_query(self, query: Any, params: Any = None) -> Any:
            # psycopg records the statement it ran (which Django's query log reads) only
            # when it is not prepared; this one is, so record it here (its values as $n).
            converted = super()._convert_query(query, params)  # type: ignore[misc]
            self._query = converted
            return converted

    return PreparingCursor


_PREPARING = _preparing_cursor_class()

# psycopg prepares nothing while a connection's threshold is None (Django's default);
# with a number, only server-binding cursors prepare (Django's client-side ones never do),
# and these always ask to.
_NEVER_BY_COUNT = 1_000_000


def _cursor(conn: Any) -> Any:
    """A cursor for a statement built here, wrapped as connection.cursor() wraps its own
    (execute wrappers and the query log see it); prepared by PostgreSQL unless
    DATABASE_PREPARED_STATEMENTS is off (for a pooler that drops them between transactions).

    After a migration PostgreSQL replans a prepared statement by itself; only a changed type
    of a column the callback's read returns fails, once, inside the callback's transaction,
    and psycopg forgets a connection's prepared statements on a rollback, so the next
    callback prepares it afresh."""
    if (
        _PREPARING is None
        or conn.vendor != "postgresql"
        or not getattr(settings, "DATABASE_PREPARED_STATEMENTS", True)
    ):
        return conn.cursor()
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    raw = conn.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _NEVER_BY_COUNT
    with conn.wrap_database_errors:
        return conn._prepare_cursor(_PREPARING(raw))


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
    with _cursor(conn) as cursor:
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


# --- new rows and the status machine's write -------------------------------------------
# The same reasoning for the writes every callback makes: the INSERT of its delivery, of
# the request's timeline entry and of the merchant's outgoing messages, and the UPDATE of
# the request's status columns. Each field still prepares its own value (pre_save, then
# get_db_prep_save: auto_now, defaults, encryption) exactly as Model.save() has it do.
# Only for models whose save() adds nothing for a new row and that no signal listens to
# (tests/intake/test_prepared.py holds both for every model written here).


@functools.cache
def _insert_statement(model: type[models.Model], rows: int) -> tuple[str, tuple[Any, ...]]:
    """INSERT INTO <table> (every column but the automatic id) VALUES (...) x rows
    RETURNING id, and the fields in column order."""
    meta = model._meta
    if meta.auto_field is None or meta.pk is not meta.auto_field:
        raise TypeError(f"{meta.label}: prepared inserts need an automatic primary key")
    fields = tuple(f for f in meta.local_concrete_fields if not f.primary_key)
    quote = transaction.get_connection().ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    table, pk = quote(meta.db_table), quote(str(meta.pk.column))
    values = ", ".join([one] * rows)
    # Names from the model's own metadata, quoted; no value is ever put into the text.
    sql = f"INSERT INTO {table} ({columns}) VALUES {values} RETURNING {pk}"  # noqa: S608
    return sql, fields


def insert(*objs: models.Model) -> None:
    """Store new rows of one model, as save() (one) or bulk_create (several) would, in one
    statement; each gets its id. Refuses a row that is already stored."""
    if not objs:
        return
    model = type(objs[0])
    if any(type(o) is not model or not o._state.adding or o.pk is not None for o in objs):
        raise ValueError("prepared.insert takes new rows of one model")
    sql, fields = _insert_statement(model, len(objs))
    conn = transaction.get_connection()  # the connection itself, not the per-thread proxy
    values = [f.get_db_prep_save(f.pre_save(o, True), conn) for o in objs for f in fields]
    with _cursor(conn) as cursor:
        cursor.execute(sql, values)
        ids = cursor.fetchall()
    for o, (pk,) in zip(objs, ids, strict=True):
        o.pk = pk
        o._state.adding = False
        o._state.db = conn.alias


@functools.cache
def _update_statement(
    model: type[models.Model], names: tuple[str, ...]
) -> tuple[str, tuple[Any, ...]]:
    meta = model._meta
    fields = tuple(meta.get_field(n) for n in names)
    quote = transaction.get_connection().ops.quote_name
    assigned = ", ".join(f"{quote(str(f.column))} = %s" for f in fields)  # type: ignore[union-attr]
    # Names from the model's own metadata, quoted; no value is ever put into the text.
    table, pk = quote(meta.db_table), quote(str(meta.pk.column))  # type: ignore[union-attr]
    sql = f"UPDATE {table} SET {assigned} WHERE {pk} = %s"  # noqa: S608
    return sql, fields


def update(obj: models.Model, names: tuple[str, ...]) -> None:
    """save(update_fields=names) of a stored row, in one statement built once."""
    sql, fields = _update_statement(type(obj), names)
    conn = transaction.get_connection()
    values = [f.get_db_prep_save(f.pre_save(obj, False), conn) for f in fields]
    pk = type(obj)._meta.pk
    values.append(pk.get_db_prep_value(obj.pk, conn))  # type: ignore[union-attr]
    with _cursor(conn) as cursor:
        cursor.execute(sql, values)
        if cursor.rowcount != 1:
            # What save(update_fields=...) raises for a row that is gone.
            raise DatabaseError("Save with update_fields did not affect any rows.")
