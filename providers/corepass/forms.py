from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from kyc.errors import InvalidInput
from kyc.forms import ProviderSettingsForm
from providers.corepass import items as catalogue
from providers.corepass.signature import parse_public_key

# How the picker names the catalogue's parts (providers/corepass/items.py).
FIELD_LABELS: dict[str, str] = {
    "FULLNAME": "Full name",
    "DOB": "Date of birth",
    "ExpiryDate": "Expiry date",
    "IssueDate": "Issue date",
    "DocumentNumber": "Document number",
    "Gender": "Gender",
    "Country": "Country",
    "DocumentImage": "Document image",
    "FaceImage": "Face image",
    "AML_Check": "AML check",
    "AML_Detail": "AML detail",
}
DOCUMENT_LABELS: dict[str, str] = {
    "IDCard": "Identity card",
    "Passport": "Passport",
    "ResidencePermit": "Residence permit",
    "DriverLicense": "Driving licence",
}


def _catalogue() -> tuple[tuple[str, tuple[tuple[str, str], ...], bool], ...]:
    fields = catalogue.DOCUMENT_FIELDS
    return (
        ("Contact", (("SH_EMAIL", "Email address"), ("SH_PHONE", "Phone number")), True),
        (
            "From any verified document",
            tuple((f"{catalogue.ANY_PREFIX}{f}", FIELD_LABELS.get(f, f)) for f in fields),
            True,
        ),
        *(
            (
                f"From the {DOCUMENT_LABELS.get(d, d).lower()} only",
                tuple((f"SH_{d}_{f}", FIELD_LABELS.get(f, f)) for f in fields),
                False,
            )
            for d in catalogue.DOCUMENTS
        ),
    )


class CorePassSettingsForm(ProviderSettingsForm):
    provider_name = "corepass"
    url_fields = ("connector_url",)
    setup_steps = (
        "Nothing to paste at CorePass: there is no webhook URL (see Callbacks below).",
        "From your CorePass connector's configuration, copy its base URL into Connector URL "
        "and its Ed448 public key into Connector public key.",
        "Test connection checks both with what is on this page, before you save.",
    )
    start_subject = (
        "CoreID",
        "The customer's CoreID, as shown in their CorePass app (e.g. cb57…).",
    )
    item_catalogue = _catalogue()
    items_setting = "default_items"
    connector_url = forms.URLField(
        label="Connector URL", help_text="Base URL of your CorePass connector."
    )
    connector_public_key = forms.CharField(
        label="Connector public key",
        help_text="Ed448 public key (57 bytes) in hex or base64. Callbacks signed by any "
        "other key are refused.",
    )
    default_items = forms.CharField(
        required=False,
        help_text="Items asked for when a request names none, separated by commas or spaces "
        "(e.g. SH_EMAIL, SH_ANY_DOB; SH_ANY_<FIELD> takes the field from any verified document).",
    )

    @classmethod
    def initial_items(cls, stored: Mapping[str, Any]) -> list[str]:
        try:
            return catalogue.normalize_items(super().initial_items(stored))
        except InvalidInput:
            return []

    def clean_connector_public_key(self) -> str:
        value = self.cleaned_data.get("connector_public_key", "")
        try:
            parse_public_key(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value.strip()

    def clean_default_items(self) -> str:
        value = self.cleaned_data.get("default_items", "")
        try:
            return ", ".join(catalogue.normalize_items(catalogue.parse_list(value)))
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None
