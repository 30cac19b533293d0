"""Base for every provider's merchant settings form.

Secret fields are write-only: the form never renders their value, only the last
4 characters as a hint, and leaving one blank keeps what is stored, except when a
setting that decides where requests go (a URL, a path) changes in the same submit:
then stored secrets are never carried over to the new address; they must be typed
again, or the form refuses (naming the fields). URL fields pass the outbound policy
of kyc/http.py (http/https only, no credentials, the provider's allowed hosts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django import forms
from django.forms.utils import pretty_name

from kyc.errors import OutboundRefused


class SecretInput(forms.PasswordInput):
    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False
        )


def url_validator(provider: str) -> Any:
    """A form validator applying the outbound policy's URL checks (no DNS at save time)."""

    def validate(value: str) -> None:
        from kyc import http

        try:
            http.check_url(str(value).rstrip("/") + "/", provider=provider)
        except OutboundRefused as exc:
            raise forms.ValidationError(exc.message) from None

    return validate


class ProviderSettingsForm(forms.Form):
    # The registry name; the outbound policy's allow-list is per provider.
    provider_name: ClassVar[str] = ""
    secret_fields: ClassVar[tuple[str, ...]] = ()
    # Base URLs (checked against the outbound policy on save).
    url_fields: ClassVar[tuple[str, ...]] = ()
    # Other settings that decide where requests go (API paths, realms): with url_fields,
    # a change to any of them means stored secrets are not carried over.
    location_extra_fields: ClassVar[tuple[str, ...]] = ()
    # Secrets the portal sends to the provider (default: every secret field).
    outbound_secret_fields: ClassVar[tuple[str, ...] | None] = None

    # What the settings page tells the merchant to do at the provider, one step per line
    # (plain text, shown escaped). `uses_webhook_url`: the page shows the account's
    # webhook URL to paste there; providers that take no pasted URL say so instead.
    setup_steps: ClassVar[tuple[str, ...]] = ()
    uses_webhook_url: ClassVar[bool] = False

    # "New verification": who is asked, when the provider needs an id up front
    # (label, help text), and the items a merchant can pick, in groups:
    # ((group label, ((item, label), ...), open by default), ...). `items_setting` names
    # the setting holding the default items (checked when the form opens);
    # `items_note` says what decides the items when there is no catalogue.
    start_subject: ClassVar[tuple[str, str] | None] = None
    item_catalogue: ClassVar[tuple[tuple[str, tuple[tuple[str, str], ...], bool], ...]] = ()
    items_setting: ClassVar[str] = ""
    items_note: ClassVar[str] = ""

    @classmethod
    def initial_items(cls, stored: Mapping[str, Any]) -> list[str]:
        """The stored default items, as catalogue values (for the picker's initial ticks)."""
        raw = str(stored.get(cls.items_setting) or "") if cls.items_setting else ""
        return [p for p in raw.replace(",", " ").split() if p]

    def __init__(self, *args: Any, stored: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.stored = dict(stored or {})
        initial = {k: v for k, v in self.stored.items() if k not in self.secret_fields}
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for name in self.url_fields:
            if name in self.fields:
                self.fields[name].validators.append(url_validator(self.provider_name))
        for name in self.secret_fields:
            field = self.fields[name]
            field.required = False
            field.widget = SecretInput()
            current = str(self.stored.get(name) or "")
            hint = f"stored, ends in …{current[-4:]}" if current else "not set"
            field.widget.attrs["placeholder"] = hint
            field.help_text = (field.help_text + " " if field.help_text else "") + (
                "Leave blank to keep the stored value (type it again when you change the URL)."
                if current
                else ""
            )

    # --- where requests go ----------------------------------------------------------

    def location_of(self, values: Mapping[str, Any]) -> dict[str, str]:
        """The settings that decide where requests go, normalised for comparison
        (subclasses fill in defaults for blank paths)."""
        names = (*self.url_fields, *self.location_extra_fields)
        return {n: str(values.get(n) or "").strip().rstrip("/") for n in names}

    def changed_location(self) -> list[str]:
        """Location settings this submit changes (compared with what is stored)."""
        before = self.location_of(self.stored)
        after = self.location_of({**self.stored, **self.cleaned_data})
        return [n for n in before if before[n] != after[n]]

    def _label(self, name: str) -> str:
        field = self.fields.get(name)
        return str(field.label) if field is not None and field.label else pretty_name(name)

    def _outbound_secrets(self) -> tuple[str, ...]:
        if self.outbound_secret_fields is None:
            return self.secret_fields
        return self.outbound_secret_fields

    def full_clean(self) -> None:
        # After every clean() (subclasses normalise paths there): a stored secret is never
        # carried over to a changed address; the merchant types it again or nothing is saved.
        super().full_clean()
        if not self.is_bound or not hasattr(self, "cleaned_data"):
            return
        changed = self.changed_location()
        if not changed:
            return
        missing = [
            n
            for n in self._outbound_secrets()
            if self.stored.get(n) and not self.cleaned_data.get(n)
        ]
        if not missing:
            return
        changed_labels = ", ".join(self._label(n) for n in changed)
        missing_labels = ", ".join(self._label(n) for n in missing)
        for name in missing:
            self.add_error(
                name,
                f"Enter it again: {changed_labels} changed, and stored secrets are never "
                "sent to a new address.",
            )
        self.add_error(
            None,
            f"{changed_labels} changed: enter {missing_labels} again (stored secrets are "
            "not kept when the address changes).",
        )

    def merged_settings(self) -> dict[str, Any]:
        """Cleaned values merged over what is stored; blank secrets keep the stored one."""
        merged = dict(self.stored)
        # Outbound secrets left blank after an address change are cleared, never carried.
        cleared = self._outbound_secrets() if self.changed_location() else ()
        for name, value in self.cleaned_data.items():
            if name in self.secret_fields and not value and name not in cleared:
                continue
            merged[name] = value
        return merged

    @staticmethod
    def secret_hint(value: str) -> str:
        return f"…{value[-4:]}" if value else ""
