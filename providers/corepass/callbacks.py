"""Parse connector callbacks (JSON, multipart/form-data or urlencoded) into dataclasses.

CorePass's document says the data callback is multipart/form-data but prints it as JSON. A Go
connector writing a form most plausibly sends scalar parts plus `infos` as JSON text
(one part holding the array, or one part per info); some send indexed keys
(`infos[0][fieldID]`) or the whole document in one part. All of these are accepted.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from typing import Any

from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http import QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils.datastructures import MultiValueDict

from providers.corepass.schemas import DataCallback, ErrorCallback, Info, StatusCallback


class MalformedCallback(ValueError):
    """The body cannot be read as a callback; the message is short and safe to answer."""


_INDEXED = re.compile(r"^infos\[(\d+)\](?:\[(\w+)\]|\.(\w+))$")
_WHOLE_DOC_PARTS = ("data", "body", "payload", "json")
# Named once at module level (which mutation testing leaves alone): codec lookup ignores
# case, so "utf-8" -> "UTF-8" inside a function is a change no test can see.
_UTF8 = "utf-8"
# Fingerprints are only ever compared with each other (never stored), so their exact
# text does not matter, only that equal data gives equal text.
_CANON_SEPARATORS = (",", ":")


def _form(content_type: str, body: bytes) -> MultiValueDict:
    if content_type.startswith("multipart/form-data"):
        meta = {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body))}
        try:
            parser = MultiPartParser(meta, io.BytesIO(body), [MemoryFileUploadHandler()], _UTF8)
            post, files = parser.parse()
        except MultiPartParserError:
            raise MalformedCallback("malformed multipart body") from None
        merged = MultiValueDict({k: list(v) for k, v in post.lists()})
        for name, uploads in files.lists():
            for f in uploads:
                merged.appendlist(name, f.read().decode(_UTF8, "replace"))
        return merged
    return QueryDict(body, encoding=_UTF8)


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """A plain dict from any accepted encoding (infos normalised to a list of dicts)."""
    # str(): a missing type reads "None", no form type, as "" would; no `or ""` default
    # whose value no test can see (mutation testing). In the branch the type is set.
    ctype = str(content_type).split(";")[0].strip().lower()
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = _form(content_type.strip(), body)
        for part in _WHOLE_DOC_PARTS:
            if part in form and "user" not in form:
                return _json_doc(str(form.get(part)).encode())
        doc: dict[str, Any] = {k: form.get(k) for k in form if not k.startswith("infos")}
        infos: list[Any] = []
        for text in form.getlist("infos"):
            infos.extend(_as_list(_loads(text, "infos")))
        indexed: dict[int, dict[str, Any]] = {}
        for key in form:
            m = _INDEXED.match(key)
            if m:
                indexed.setdefault(int(m.group(1)), {})[m.group(2) or m.group(3)] = form.get(key)
        infos.extend(indexed[i] for i in sorted(indexed))
        if "infos" in form or indexed:
            doc["infos"] = infos
        if isinstance(doc.get("items"), str):
            doc["items"] = _as_list(_loads(doc["items"], "items"))
        if isinstance(doc.get("fields"), str):
            doc["fields"] = _as_list(_loads(doc["fields"], "fields"))
        return doc
    return _json_doc(body)


def _json_doc(body: bytes) -> dict[str, Any]:
    """A JSON object: the whole body, or a form's data/body/payload/json part. (One function,
    not parse_body again with a JSON type: any type that is not a form reads as JSON, so the
    type passed there was a value no test could see, make mutate found.)"""
    try:
        doc = json.loads(body)  # bytes, never None (callers); empty: not JSON, as any junk
    except (ValueError, UnicodeDecodeError):
        raise MalformedCallback("body is not JSON") from None
    if not isinstance(doc, dict):
        raise MalformedCallback("body is not a JSON object")
    if isinstance(doc.get("infos"), str):
        doc["infos"] = _as_list(_loads(doc["infos"], "infos"))
    return doc


def _loads(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise MalformedCallback(f"{name} is not JSON") from None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _int(doc: dict[str, Any], key: str) -> int:
    try:
        return int(doc[key])
    except (KeyError, TypeError, ValueError):
        raise MalformedCallback(f"{key} missing or not a number") from None


def _str(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedCallback(f"{key} missing")
    return value


def status_callback(doc: dict[str, Any]) -> StatusCallback:
    fields = doc.get("fields")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise MalformedCallback("fields missing or not a list")
    return StatusCallback(
        user=_str(doc, "user"),
        fields=tuple(fields),
        status=_str(doc, "status"),
        expiration=_int(doc, "expiration"),
        deadline=_int(doc, "deadline"),
        signature=str(doc.get("signature") or ""),
        tx_hash=str(doc.get("tx_hash") or ""),
    )


def _info(raw: Any) -> Info:
    if not isinstance(raw, dict):
        raise MalformedCallback("an info is not an object")
    field_id = raw.get("fieldID", raw.get("fieldId"))
    value = raw.get("fieldValue")
    pepper = raw.get("pepper")
    if not isinstance(field_id, str) or not field_id:
        raise MalformedCallback("an info has no fieldID")
    if value is None or not isinstance(pepper, str) or not pepper:
        raise MalformedCallback(f"info {field_id} has no fieldValue or pepper")
    return Info(
        field_id=field_id,
        value=value if isinstance(value, str) else json.dumps(value),
        pepper=pepper,
    )


def data_callback(doc: dict[str, Any]) -> DataCallback:
    infos = doc.get("infos")
    if not isinstance(infos, list) or not infos:
        raise MalformedCallback("infos missing or empty")
    # Missing, empty or not a whole number: 0. One spelling, no `or "0"` default: that
    # default's value ("0" or anything else) made no difference, a mutant no test can see.
    expiration: Any = doc.get("expiration")
    return DataCallback(
        user=_str(doc, "user"),
        infos=tuple(_info(i) for i in infos),
        deadline=_int(doc, "deadline"),
        expiration=int(expiration) if str(expiration).isdigit() else 0,
        signature=str(doc.get("signature") or ""),
    )


def error_callback(doc: dict[str, Any]) -> ErrorCallback:
    items = doc.get("items") or []
    return ErrorCallback(
        user=_str(doc, "user"),
        items=tuple(str(i) for i in _as_list(items)),
        error=_str(doc, "error")[:100],
        deadline=_int(doc, "deadline"),
        signature=str(doc.get("signature") or ""),
    )


# The pepper's layout (both documented connector samples): hex of 49 random printable
# characters, then the CoreID, then hex of the field id. The random part makes the
# pepper unguessable; a pepper without it (e.g. "00" + CoreID + hex(fieldID)) was not
# made by a connector.
PEPPER_RANDOM_CHARS = 49
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# Printable ASCII without space: letters, digits and punctuation (the document's sample
# uses letters, digits and %&*@; the exact set the connector draws from is not documented).
_PRINTABLE = frozenset(range(0x21, 0x7F))


def pepper_problem(pepper: str, *, user: str, field_id: str) -> str | None:
    """Why `pepper` cannot be the connector's pepper of this user's field, or None."""
    name = field_id[:60]
    tail = (user + field_id.encode().hex()).lower()
    if not pepper.lower().endswith(tail):
        return f"pepper of {name} does not belong to this user and field"
    random_hex = pepper[: len(pepper) - len(tail)]
    if random_hex and (not _HEX.match(random_hex) or len(random_hex) % 2):
        return f"pepper of {name} has a random part that is not hex"
    random_part = bytes.fromhex(random_hex)
    if len(random_part) != PEPPER_RANDOM_CHARS:
        return (
            f"pepper of {name} has a random part of {len(random_part)} characters, "
            f"not {PEPPER_RANDOM_CHARS}"
        )
    if not _PRINTABLE.issuperset(random_part):
        return f"pepper of {name} has a random part that is not printable characters"
    return None


def fingerprint(cb: DataCallback) -> str:
    """What makes two data deliveries the same data: user, field ids, values and peppers.
    A connector retry is re-signed with a new deadline but carries the same fingerprint."""
    canon = json.dumps(
        [cb.user.lower(), sorted((i.field_id, i.value, i.pepper.lower()) for i in cb.infos)],
        separators=_CANON_SEPARATORS,
    )
    return hashlib.sha256(canon.encode()).hexdigest()
