"""providers/corepass/callbacks.py in detail: every encoding a connector may use, the short
reason each malformed callback is refused with, pepper checks and retry fingerprints (each
test kills mutants `make mutate` found)."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from providers.corepass import callbacks as cb
from providers.corepass.schemas import DataCallback, Info

USER = "cb57bbbb54cdf60fa666fd741be78f794d4608d67109"
PEPPER_RANDOM = ("A" * 48 + "%").encode().hex()  # 49 printable characters


def pepper(field_id: str, *, user: str = USER, random_hex: str = PEPPER_RANDOM) -> str:
    return random_hex + user + field_id.encode().hex()


def multipart(data: dict) -> tuple[str, bytes]:
    return MULTIPART_CONTENT, encode_multipart(BOUNDARY, data)


def refused(call, *args) -> str:
    with pytest.raises(cb.MalformedCallback) as exc:
        call(*args)
    return str(exc.value)


def test_it_reads_json_and_normalises_infos_sent_as_text() -> None:
    info = {"fieldID": "SH_EMAIL", "fieldValue": "a@example.com", "pepper": "p"}
    body = json.dumps({"user": USER, "infos": json.dumps(info)}).encode()
    assert cb.parse_body("application/json; charset=utf-8", body) == {
        "user": USER,
        "infos": [info],
    }
    assert cb.parse_body("", b'{"user": "u"}') == {"user": "u"}  # no content type: JSON
    assert cb.parse_body(None, b'{"a": 1}') == {"a": 1}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ctype", "body", "reason"),
    [
        ("application/json", b"nope", "body is not JSON"),
        ("application/json", b"", "body is not JSON"),
        ("application/json", b"\xff\xfe", "body is not JSON"),
        ("application/json", b"[1]", "body is not a JSON object"),
        ("application/json", b'{"infos": "nope"}', "infos is not JSON"),
        ("application/x-www-form-urlencoded", b"user=u&items=nope", "items is not JSON"),
        ("application/x-www-form-urlencoded", b"user=u&fields=nope", "fields is not JSON"),
        ("application/x-www-form-urlencoded", b"user=u&infos=nope", "infos is not JSON"),
        ("multipart/form-data", b"--x\r\nno boundary given", "malformed multipart body"),
    ],
)
def test_it_names_what_is_malformed_in_a_body(ctype: str, body: bytes, reason: str) -> None:
    assert refused(cb.parse_body, ctype, body) == reason


def test_it_reads_a_urlencoded_form_with_json_parts() -> None:
    body = urlencode(
        {
            "user": USER,
            "fields": json.dumps(["h1", "h2"]),
            "items": json.dumps("SH_EMAIL"),
            "deadline": "17",
        }
    ).encode()
    assert cb.parse_body("Application/X-WWW-Form-Urlencoded", body) == {
        "user": USER,
        "fields": ["h1", "h2"],
        "items": ["SH_EMAIL"],
        "deadline": "17",
    }


def test_it_reads_every_multipart_shape_a_connector_may_send() -> None:
    one = {"fieldID": "A", "fieldValue": "1", "pepper": "p1"}
    two = {"fieldID": "B", "fieldValue": "2", "pepper": "p2"}
    # the array in one part, and one part per info, are both lists of infos
    ctype, body = multipart({"user": USER, "infos": [json.dumps([one]), json.dumps(two)]})
    assert cb.parse_body(ctype, body) == {"user": USER, "infos": [one, two]}
    # indexed keys, in index order (10 after 2), both spellings
    ctype, body = multipart(
        {
            "user": USER,
            "infos[10][fieldID]": "B",
            "infos[2].fieldID": "A",
            "infos[2][pepper]": "p1",
        }
    )
    assert cb.parse_body(ctype, body)["infos"] == [
        {"fieldID": "A", "pepper": "p1"},
        {"fieldID": "B"},
    ]
    # the whole document in one part, under any of its usual names
    for part in ("data", "body", "payload", "json"):
        ctype, body = multipart({part: json.dumps({"user": USER, "deadline": 5})})
        assert cb.parse_body(ctype, body) == {"user": USER, "deadline": 5}, part
    # ... but a part called "data" next to a user is just a field
    ctype, body = multipart({"user": USER, "data": "x"})
    assert cb.parse_body(ctype, body) == {"user": USER, "data": "x"}
    # a form without infos gets no infos key
    ctype, body = multipart({"user": USER})
    assert cb.parse_body(ctype, body) == {"user": USER}


def test_it_reads_an_uploaded_file_part_as_text() -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    infos = json.dumps([{"fieldID": "A", "fieldValue": "é", "pepper": "p"}]).encode()
    upload = SimpleUploadedFile("infos.json", infos + b"\xff", content_type="application/json")
    ctype, body = multipart({"user": USER, "infos": upload})
    with pytest.raises(cb.MalformedCallback):  # the replaced byte makes it invalid JSON
        cb.parse_body(ctype, body)
    upload = SimpleUploadedFile("infos.json", infos, content_type="application/json")
    ctype, body = multipart({"user": USER, "infos": upload})
    assert cb.parse_body(ctype, body)["infos"][0]["fieldValue"] == "é"


def _status(**over) -> dict:
    doc = {
        "user": USER,
        "fields": ["h1"],
        "status": "accepted",
        "expiration": "100",
        "deadline": 200,
        "signature": "sig",
        "tx_hash": "0xab",
    }
    return {k: v for k, v in {**doc, **over}.items() if v is not None}


def test_it_builds_a_status_callback_and_names_what_is_missing() -> None:
    got = cb.status_callback(_status())
    assert (got.user, got.fields, got.status) == (USER, ("h1",), "accepted")
    assert (got.expiration, got.deadline, got.signature, got.tx_hash) == (100, 200, "sig", "0xab")
    bare = cb.status_callback(_status(signature=None, tx_hash=None))
    assert (bare.signature, bare.tx_hash) == ("", "")
    assert refused(cb.status_callback, _status(fields=None)) == "fields missing or not a list"
    assert refused(cb.status_callback, _status(fields="h1")) == "fields missing or not a list"
    assert refused(cb.status_callback, _status(fields=["h1", 2])) == "fields missing or not a list"
    assert refused(cb.status_callback, _status(user="")) == "user missing"
    assert refused(cb.status_callback, _status(user=5)) == "user missing"
    assert refused(cb.status_callback, _status(status=None)) == "status missing"
    assert (
        refused(cb.status_callback, _status(expiration="x")) == "expiration missing or not a number"
    )
    assert refused(cb.status_callback, _status(deadline=None)) == "deadline missing or not a number"
    assert refused(cb.status_callback, _status(deadline=[1])) == "deadline missing or not a number"


def _data(**over) -> dict:
    doc = {
        "user": USER,
        "infos": [{"fieldID": "SH_EMAIL", "fieldValue": "a@example.com", "pepper": "p1"}],
        "deadline": "300",
        "expiration": "400",
        "signature": "sig",
    }
    return {k: v for k, v in {**doc, **over}.items() if v is not None}


def test_it_builds_a_data_callback_and_names_what_is_missing() -> None:
    got = cb.data_callback(_data())
    assert got == DataCallback(
        user=USER,
        infos=(Info(field_id="SH_EMAIL", value="a@example.com", pepper="p1"),),
        deadline=300,
        expiration=400,
        signature="sig",
    )
    assert cb.data_callback(_data(expiration="soon")).expiration == 0
    assert cb.data_callback(_data(expiration=None, signature=None)).expiration == 0
    assert cb.data_callback(_data(signature=None)).signature == ""
    # fieldId spelling, and non-text values kept as JSON
    alt = cb.data_callback(_data(infos=[{"fieldId": "N", "fieldValue": {"a": 1}, "pepper": "p"}]))
    assert alt.infos == (Info(field_id="N", value='{"a": 1}', pepper="p"),)
    assert refused(cb.data_callback, _data(infos=[])) == "infos missing or empty"
    assert refused(cb.data_callback, _data(infos={"fieldID": "A"})) == "infos missing or empty"
    assert refused(cb.data_callback, _data(infos=["x"])) == "an info is not an object"
    no_id = [{"fieldValue": "v", "pepper": "p"}]
    assert refused(cb.data_callback, _data(infos=no_id)) == "an info has no fieldID"
    no_pepper = [{"fieldID": "A", "fieldValue": "v", "pepper": ""}]
    assert refused(cb.data_callback, _data(infos=no_pepper)) == "info A has no fieldValue or pepper"
    no_value = [{"fieldID": "A", "pepper": "p"}]
    assert refused(cb.data_callback, _data(infos=no_value)) == "info A has no fieldValue or pepper"
    assert cb.data_callback(_data(infos=[{"fieldID": "A", "fieldValue": "", "pepper": "p"}]))
    assert refused(cb.data_callback, _data(user=None)) == "user missing"
    assert refused(cb.data_callback, _data(deadline="x")) == "deadline missing or not a number"


def test_it_builds_an_error_callback_with_a_short_error() -> None:
    doc = {"user": USER, "items": "SH_EMAIL", "error": "e" * 150, "deadline": "9"}
    got = cb.error_callback(doc)
    assert (got.user, got.items, got.error, got.deadline, got.signature) == (
        USER,
        ("SH_EMAIL",),
        "e" * 100,
        9,
        "",
    )
    assert cb.error_callback({**doc, "items": None, "signature": "s"}).items == ()
    assert cb.error_callback({**doc, "items": [1, "b"]}).items == ("1", "b")
    assert cb.error_callback({**doc, "signature": "s"}).signature == "s"
    assert refused(cb.error_callback, {**doc, "error": ""}) == "error missing"


def test_it_accepts_only_a_connectors_pepper_for_this_user_and_field() -> None:
    assert cb.pepper_problem(pepper("SH_EMAIL"), user=USER, field_id="SH_EMAIL") is None
    assert cb.pepper_problem(pepper("SH_EMAIL").upper(), user=USER, field_id="SH_EMAIL") is None
    long_id = "F" * 80
    assert cb.pepper_problem(pepper("SH_EMAIL"), user=USER, field_id=long_id) == (
        f"pepper of {'F' * 60} does not belong to this user and field"
    )
    assert cb.pepper_problem(
        pepper("SH_EMAIL", user="ab" + USER[2:]), user=USER, field_id="SH_EMAIL"
    )
    assert cb.pepper_problem(
        pepper("SH_EMAIL", random_hex="zz" + PEPPER_RANDOM[2:]), user=USER, field_id="SH_EMAIL"
    ) == ("pepper of SH_EMAIL has a random part that is not hex")
    assert cb.pepper_problem(
        pepper("SH_EMAIL", random_hex=PEPPER_RANDOM + "4"), user=USER, field_id="SH_EMAIL"
    ) == ("pepper of SH_EMAIL has a random part that is not hex")
    assert cb.pepper_problem(
        pepper("SH_EMAIL", random_hex=PEPPER_RANDOM[2:]), user=USER, field_id="SH_EMAIL"
    ) == ("pepper of SH_EMAIL has a random part of 48 characters, not 49")
    assert cb.pepper_problem(pepper("SH_EMAIL", random_hex=""), user=USER, field_id="SH_EMAIL") == (
        "pepper of SH_EMAIL has a random part of 0 characters, not 49"
    )
    for bad in (" ", "\x7f", "\x00"):
        random_hex = (("A" * 48) + bad).encode().hex()
        assert cb.pepper_problem(
            pepper("SH_EMAIL", random_hex=random_hex), user=USER, field_id="SH_EMAIL"
        ) == ("pepper of SH_EMAIL has a random part that is not printable characters"), repr(bad)
    edges = (("!" * 48) + "~").encode().hex()  # 0x21 and 0x7e are printable
    assert (
        cb.pepper_problem(pepper("SH_EMAIL", random_hex=edges), user=USER, field_id="SH_EMAIL")
        is None
    )


def test_it_fingerprints_a_retry_like_the_first_delivery() -> None:
    a = Info(field_id="A", value="1", pepper="PP")
    b = Info(field_id="B", value="2", pepper="qq")
    first = DataCallback(user=USER.upper(), infos=(a, b), deadline=1, expiration=2, signature="s")
    retry = DataCallback(
        user=USER,
        infos=(b, Info(field_id="A", value="1", pepper="pp")),
        deadline=9,
        expiration=0,
        signature="t",
    )
    canon = json.dumps([USER, [["A", "1", "pp"], ["B", "2", "qq"]]], separators=(",", ":"))
    assert (
        cb.fingerprint(first) == cb.fingerprint(retry) == hashlib.sha256(canon.encode()).hexdigest()
    )
    changed = DataCallback(
        user=USER, infos=(Info("A", "3", "pp"), b), deadline=1, expiration=2, signature="s"
    )
    assert cb.fingerprint(changed) != cb.fingerprint(first)


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_it_reads_a_form_as_utf8_whatever_the_sites_default_charset(
    settings, encoding: str
) -> None:
    # The connector writes UTF-8; a deployment with another DEFAULT_CHARSET must not turn
    # a customer's name into mojibake.
    name = "Олена Müller"
    data = {"user": USER, "status": "FINISH_SUCCESS", "name": name}
    if encoding == "multipart":
        ctype, body = multipart(data)
    else:
        ctype, body = "application/x-www-form-urlencoded", urlencode(data).encode()
    settings.DEFAULT_CHARSET = "latin-1"
    assert cb.parse_body(ctype, body)["name"] == name


@pytest.mark.parametrize("field_id", ["", 42, None, ["SH_EMAIL"]])
def test_it_refuses_an_info_whose_field_id_is_empty_or_not_text(field_id) -> None:
    doc = {
        "user": USER,
        "deadline": 1,
        "infos": [{"fieldID": field_id, "fieldValue": "x", "pepper": "ab"}],
    }
    assert refused(cb.data_callback, doc) == "an info has no fieldID"


def test_it_accepts_a_pepper_drawn_from_any_printable_characters() -> None:
    # 49 distinct printable characters (not one repeated): still a connector's pepper.
    random_part = bytes(range(0x21, 0x21 + 49)).hex()
    assert (
        cb.pepper_problem(
            pepper("SH_EMAIL", random_hex=random_part), user=USER, field_id="SH_EMAIL"
        )
        is None
    )
    with_space = (b" " + bytes(range(0x22, 0x22 + 48))).hex()
    assert "not printable" in (
        cb.pepper_problem(pepper("SH_EMAIL", random_hex=with_space), user=USER, field_id="SH_EMAIL")
        or ""
    )
