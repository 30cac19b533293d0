"""The merchant's branding page: what the customer page shows of the merchant (logo,
colour, support contact, privacy policy, where to start again, default language)."""

from __future__ import annotations

import base64
import re
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kyc import customer, selectors
from kyc.models import Merchant
from kyc.permissions import Action, current_merchant, require
from kyc.services import audit_log

MAX_LOGO_BYTES = 200 * 1024
# First bytes of the image types a logo may have (SVG is refused: it can carry script).
_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/webp", b"WEBP", 8),
)
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def logo_type(data: bytes) -> str:
    """The image type the bytes really are (png, jpeg, webp), else ""."""
    for kind, magic, at in _SIGNATURES:
        if data[at : at + len(magic)] == magic and (kind != "image/webp" or data[:4] == b"RIFF"):
            return kind
    return ""


class BrandingForm(forms.ModelForm):
    logo_file = forms.FileField(
        required=False,
        label="Logo",
        help_text="PNG, JPEG or WebP, at most 200 KB. Shown at 40 px high on the customer page.",
    )
    remove_logo = forms.BooleanField(required=False, label="Remove the current logo")

    class Meta:
        model = Merchant
        fields = [
            "brand_color",
            "support_contact",
            "privacy_url",
            "restart_url",
            "default_language",
        ]
        labels = {
            "brand_color": "Brand colour",
            "support_contact": "Support contact",
            "privacy_url": "Privacy policy URL",
            "restart_url": "Start-again URL",
            "default_language": "Default language",
        }
        help_texts = {
            "brand_color": "Buttons on the customer page. Text on them turns dark when white "
            "would be hard to read.",
            "support_contact": "An email address or an https URL your customers can reach you at.",
            "privacy_url": "Linked at the bottom of the customer page (https).",
            "restart_url": "Where a customer starts again after a link expired or failed (https).",
            "default_language": "Used when the customer's browser asks for none of English, "
            "Ukrainian or German.",
        }
        widgets = {"brand_color": forms.TextInput(attrs={"type": "color"})}

    def clean_brand_color(self) -> str:
        value = str(self.cleaned_data.get("brand_color") or "").strip()
        if not _HEX.match(value):
            raise forms.ValidationError("Use a hex colour such as #1f4fd1.")
        return value.lower()

    def clean_support_contact(self) -> str:
        value = str(self.cleaned_data.get("support_contact") or "").strip()
        if value and not customer.support(value).get("href"):
            raise forms.ValidationError("Use an email address or an https URL.")
        return value

    def _https(self, name: str) -> str:
        value = str(self.cleaned_data.get(name) or "").strip()
        if value and not value.startswith("https://"):
            raise forms.ValidationError("Use an https URL.")
        return value

    def clean_privacy_url(self) -> str:
        return self._https("privacy_url")

    def clean_restart_url(self) -> str:
        return self._https("restart_url")

    def clean_logo_file(self) -> tuple[bytes, str] | None:
        upload = self.cleaned_data.get("logo_file")
        if not upload:
            return None
        if upload.size > MAX_LOGO_BYTES:
            raise forms.ValidationError("The logo is larger than 200 KB.")
        data = upload.read(MAX_LOGO_BYTES + 1)
        kind = logo_type(data)
        if not kind:
            raise forms.ValidationError("The logo must be a PNG, JPEG or WebP image.")
        return data, kind


def merchant_branding_update(*, merchant: Merchant, form: BrandingForm, actor: Any) -> list[str]:
    """Save the branding (and the logo); audited. Returns the names of what changed."""
    changed = [name for name in form.changed_data if name not in ("logo_file", "remove_logo")]
    upload = form.cleaned_data.get("logo_file")
    with transaction.atomic():
        fields = list(changed)
        if upload:
            merchant.logo, merchant.logo_type = upload
            fields += ["logo", "logo_type"]
            changed.append("logo")
        elif form.cleaned_data.get("remove_logo") and merchant.logo_type:
            merchant.logo, merchant.logo_type = None, ""
            fields += ["logo", "logo_type"]
            changed.append("logo removed")
        if fields:
            merchant.save(update_fields=fields)
            audit_log(
                actor=actor, action="merchant.branding", obj=merchant, detail={"changed": changed}
            )
            # Open customer pages show the new branding at their next poll, not within the
            # hour their cached state lives (robust: a cache outage must not undo the save).
            merchant_id = merchant.pk
            transaction.on_commit(
                lambda: selectors.page_states_forget(merchant_id=merchant_id), robust=True
            )
    return changed


@login_required
@require(Action.MANAGE_MERCHANT)
@require_http_methods(["GET", "POST"])
def branding(request: HttpRequest) -> HttpResponse:
    merchant = current_merchant(request)
    form = BrandingForm(request.POST or None, request.FILES or None, instance=merchant)
    if request.method == "POST" and form.is_valid():
        changed = merchant_branding_update(merchant=merchant, form=form, actor=request.user)
        messages.success(request, "Branding saved." if changed else "Nothing changed.")
        return redirect("branding")
    logo = bytes(merchant.logo or b"") if merchant.logo_type else b""
    color, ink = customer.button_colors(merchant.brand_color)
    return render(
        request,
        "portal/branding.html",
        {
            "merchant": merchant,
            "form": form,
            "logo_src": f"data:{merchant.logo_type};base64,{base64.b64encode(logo).decode()}"
            if logo
            else "",
            "brand": color,
            "brand_ink": ink,
            "adjusted": color != customer.brand_color(merchant.brand_color),
        },
    )
