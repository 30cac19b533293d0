"""Base for every provider's merchant settings form.

Secret fields are write-only: the form never renders their value, only the last
4 characters as a hint, and leaving one blank keeps what is stored.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms


class SecretInput(forms.PasswordInput):
    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False
        )


class ProviderSettingsForm(forms.Form):
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, stored: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.stored = dict(stored or {})
        initial = {k: v for k, v in self.stored.items() if k not in self.secret_fields}
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            field = self.fields[name]
            field.required = False
            field.widget = SecretInput()
            current = str(self.stored.get(name) or "")
            hint = f"stored, ends in …{current[-4:]}" if current else "not set"
            field.widget.attrs["placeholder"] = hint
            field.help_text = (field.help_text + " " if field.help_text else "") + (
                "Leave blank to keep the stored value." if current else ""
            )

    def merged_settings(self) -> dict[str, Any]:
        """Cleaned values merged over what is stored; blank secrets keep the stored one."""
        merged = dict(self.stored)
        for name, value in self.cleaned_data.items():
            if name in self.secret_fields and not value:
                continue
            merged[name] = value
        return merged

    @staticmethod
    def secret_hint(value: str) -> str:
        return f"…{value[-4:]}" if value else ""
