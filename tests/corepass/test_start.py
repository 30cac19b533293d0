"""Starting a request: CoreID and item validation, any-document items, connector answers."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest

from kyc.contract import StartRequest
from kyc.errors import InvalidInput, PermanentError
from providers.corepass import client, items
from providers.corepass.provider import RANK, CorePassProvider, portal_status
from providers.corepass.schemas import QRCodeResult, VerifiedResult
from tests.corepass.conftest import USER

PROVIDER = CorePassProvider()
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
SETTINGS = {
    "connector_url": "http://connector.invalid",
    "connector_public_key": "ecbce702f4d8548ef8b3fe672d5a58e83e23f55d69a90739904e5793e32bbadaacef919c284d555d84e95f11f21da607e4880d9ae7b6143980",
}


def _start(items_: tuple[str, ...], verified: list[str], **qr: Any) -> tuple[Any, mock.MagicMock]:
    answer = QRCodeResult(link="corepass:kyc?x", expiration=int(NOW.timestamp()) + 600, **qr)
    with (
        mock.patch.object(
            client, "verified", return_value=VerifiedResult(verified=tuple(verified))
        ) as v,
        mock.patch.object(client, "qrcode", return_value=answer) as q,
    ):
        result = PROVIDER.start_transfer(
            StartRequest(
                transfer_id="t",
                reference="r",
                settings=SETTINGS,
                state={},
                callback_url="https://portal/hooks/corepass/t/TOKEN/",
                webhook_url="",
                page_url="",
                subject=USER,
                items=items_,
                now=NOW,
            )
        )
    q.verified_call = v.call_args
    return result, q


def test_it_validates_coreid_and_items_before_anything_is_stored() -> None:
    user, asked = PROVIDER.validate_start(
        subject=USER.upper(), items=["sh_email", "ANY_DOB"], settings={}
    )
    assert user == USER
    assert asked == ["SH_EMAIL", "SH_ANY_DOB"]
    with pytest.raises(InvalidInput) as exc:
        PROVIDER.validate_start(subject=USER[:-1] + "0", items=["SH_EMAIL"], settings={})
    assert exc.value.field == "subject" and "check digits" in exc.value.message
    with pytest.raises(InvalidInput, match="Unknown CorePass item 'SH_Shoe_Size'"):
        PROVIDER.validate_start(subject=USER, items=["SH_Shoe_Size"], settings={})
    with pytest.raises(InvalidInput, match="SH_ANY_<FIELD>"):
        PROVIDER.validate_start(subject=USER, items=["SH_ANY_Shoe"], settings={})


def test_it_uses_default_items_when_none_are_named() -> None:
    _, asked = PROVIDER.validate_start(
        subject=USER, items=[], settings={"default_items": "SH_EMAIL, SH_ANY_DOB"}
    )
    assert asked == ["SH_EMAIL", "SH_ANY_DOB"]


def test_it_asks_for_the_verified_document_and_wires_both_callbacks() -> None:
    result, q = _start(
        ("SH_EMAIL", "SH_ANY_DOB"), ["SH_EMAIL", "SH_Passport_DOB", "SH_DriverLicense_DOB"]
    )
    asked = q.verified_call.kwargs["items"]
    assert asked == [
        "SH_EMAIL",
        "SH_IDCard_DOB",
        "SH_Passport_DOB",
        "SH_ResidencePermit_DOB",
        "SH_DriverLicense_DOB",
    ]
    req = q.call_args.args[1]
    assert req.items == ("SH_EMAIL", "SH_Passport_DOB")
    assert req.callback == "https://portal/hooks/corepass/t/TOKEN/data"
    assert req.status_callback == "https://portal/hooks/corepass/t/TOKEN/status"
    assert req.without_qr_code is True
    assert req.expiration == int(NOW.timestamp()) + 600
    assert result.items == ("SH_EMAIL", "SH_Passport_DOB")
    assert result.qr_payload == result.deep_link == "corepass:kyc?x"
    assert result.expires_at == NOW + dt.timedelta(minutes=10)


def test_it_prefers_one_document_for_several_any_items() -> None:
    chosen, missing = items.resolve(
        ["SH_ANY_DOB", "SH_ANY_FULLNAME"],
        ["SH_IDCard_DOB", "SH_Passport_DOB", "SH_Passport_FULLNAME"],
    )
    assert (chosen, missing) == (["SH_Passport_DOB", "SH_Passport_FULLNAME"], [])


def test_it_tells_the_customer_to_complete_kyc_when_no_document_has_the_field() -> None:
    with pytest.raises(PermanentError) as exc:
        _start(("SH_ANY_DOB",), ["SH_EMAIL"])
    assert exc.value.code == "items_not_verified"
    assert (
        "SH_ANY_DOB" in exc.value.message
        and "complete KYC in the CorePass app" in exc.value.message
    )


def test_it_keeps_the_first_qr_when_the_connector_says_already_sent() -> None:
    result, _ = _start(("SH_EMAIL",), ["SH_EMAIL"], already_sent=True)
    assert result.data["already_sent"] is True
    assert "reused" in result.detail


@pytest.mark.parametrize("ahead", [299, 901])
def test_it_checks_the_expiration_window_before_calling(ahead: int) -> None:
    with mock.patch("kyc.http.call") as call:
        with pytest.raises(PermanentError) as exc:
            client.qrcode(
                "http://c",
                client.QRCodeRequest(
                    user=USER,
                    items=("SH_EMAIL",),
                    callback="a",
                    status_callback="b",
                    expiration=1000 + ahead,
                ),
                now=1000,
            )
    assert exc.value.code == "invalid_expiration"
    call.assert_not_called()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("there is an ongoing request for this user and items", "ongoing_request"),
        ("user does not have the requested items verified", "items_not_verified"),
        (
            "expiration time is invalid, it should be unix time in seconds and between 5-15 minutes",
            "invalid_expiration",
        ),
        ("something else", "provider_rejected"),
    ],
)
def test_it_maps_the_connector_400_texts_to_specific_codes(body: str, code: str) -> None:
    with mock.patch("kyc.http.call", side_effect=PermanentError(body, status=400)):
        with pytest.raises(PermanentError) as exc:
            client.status("http://c", user=USER, items=["SH_EMAIL"])
    assert exc.value.code == code


def test_it_ranks_statuses_in_documented_order() -> None:
    assert RANK["PENDING"] < RANK["ACCEPTED"] < RANK["CONFIRM_SUBMITTED"] < RANK["FINISH_SUCCESS"]
    assert portal_status("VALIDITY_FAILED") == "failed"
    assert portal_status("KYC_RECEIVED") == "processing"
    assert portal_status("NONSENSE") is None


def test_it_validates_the_settings_form() -> None:
    form = PROVIDER.form_class(
        {
            "connector_url": "https://c.example",
            "connector_public_key": "abcd",
            "default_items": "SH_EMAIL",
        }
    )
    assert not form.is_valid()
    assert "57-byte" in str(form.errors["connector_public_key"]) or "hex" in str(
        form.errors["connector_public_key"]
    )
    form = PROVIDER.form_class(
        {
            "connector_url": "https://c.example",
            "connector_public_key": SETTINGS["connector_public_key"],
            "default_items": "sh_email any_dob",
        }
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["default_items"] == "SH_EMAIL, SH_ANY_DOB"
