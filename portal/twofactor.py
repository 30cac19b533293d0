"""Second factor for staff (TOTP through django-otp), on when STAFF_REQUIRE_2FA is.

A signed-in user whose session is not OTP-verified is sent here by
portal.middleware.StaffTwoFactorMiddleware: to `setup` when they have no confirmed
authenticator yet (QR code of the otpauth:// URI, confirmed with one code), else to
`verify`. Before the QR code, `setup` asks for the one-time setup code a superuser issued
(STAFF_SETUP_CODE_REQUIRED): the password alone never sets up a second factor. Codes count
against the login limiter of the account, on top of django-otp's own per-device throttling.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import django_otp
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from kyc import qr, ratelimit
from kyc.models import StaffTOTPDevice
from kyc.services.setup_codes import (
    staff_setup_code_check,
    staff_setup_code_spend,
    staff_setup_code_valid,
)
from portal.auth import client_address, too_many_attempts

DEVICE_NAME = "authenticator app"
# Session key: the digest of the setup code this session was shown (the QR code comes next).
# A code is spent only once its authenticator is confirmed: a setup left half-way (browser
# closed, session ended) can be taken up again with the same code.
SETUP_CODE_SHOWN = "otp_setup_code_shown"


class CodeForm(forms.Form):
    code = forms.RegexField(
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        label="6-digit code from your authenticator app",
        error_messages={"invalid": "Enter the 6 digits your app shows."},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class SetupCodeForm(forms.Form):
    setup_code = forms.CharField(
        max_length=40,
        label="Setup code",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def with_next(view_name: str, next_url: str) -> str:
    return f"{reverse(view_name)}?{urlencode({'next': next_url})}"


def _attempt_allowed(request: HttpRequest) -> bool:
    return ratelimit.login_attempt_allowed(
        address=client_address(request), username=request.user.get_username(), kind="otp"
    )


def pending_device(user: object) -> StaffTOTPDevice:
    """The user's unconfirmed authenticator, created once (the QR code stays the same on reload)."""
    device = StaffTOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = StaffTOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    if django_otp.user_has_device(request.user, confirmed=True):
        # Replacing a confirmed authenticator is a staff job (admin), not a self-service one.
        return redirect(with_next("otp_verify", _next_url(request)))
    if _setup_code_needed(request):
        return _setup_code(request)
    device = pending_device(request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        if not _attempt_allowed(request):
            return too_many_attempts()
        if form.is_valid():
            if not device.verify_is_allowed()[0]:
                form.add_error("code", "Too many wrong codes; wait a few seconds and try again.")
            elif device.verify_token(form.cleaned_data["code"].strip()):
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                staff_setup_code_spend(user=request.user)
                django_otp.login(request, device)
                request.session.pop(SETUP_CODE_SHOWN, None)
                return redirect(_next_url(request))
            form.add_error("code", "That code does not match; check the time on your phone.")
    return render(
        request,
        "registration/otp_setup.html",
        {
            "form": form,
            "qr_svg": qr.render_svg(device.config_url),
            "secret": _base32(device),
            "next": _next_url(request),
        },
    )


def _setup_code_needed(request: HttpRequest) -> bool:
    if not getattr(settings, "STAFF_SETUP_CODE_REQUIRED", True):
        return False
    shown = request.session.get(SETUP_CODE_SHOWN)
    return not (isinstance(shown, str) and staff_setup_code_valid(user=request.user, digest=shown))


def _setup_code(request: HttpRequest) -> HttpResponse:
    """The one-time setup code, asked before the QR code (a guess counts like a login)."""
    form = SetupCodeForm(request.POST or None)
    if request.method == "POST":
        if not _attempt_allowed(request):
            return too_many_attempts()
        if form.is_valid():
            digest = staff_setup_code_check(user=request.user, code=form.cleaned_data["setup_code"])
            if digest is not None:
                request.session[SETUP_CODE_SHOWN] = digest
                return redirect(with_next("otp_setup", _next_url(request)))
            form.add_error(
                "setup_code",
                "That setup code is wrong, already used or expired. "
                "Ask a portal superuser for a new one.",
            )
    return render(
        request, "registration/otp_setup_code.html", {"form": form, "next": _next_url(request)}
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    if not django_otp.user_has_device(request.user, confirmed=True):
        return redirect(with_next("otp_setup", _next_url(request)))
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        if not _attempt_allowed(request):
            return too_many_attempts()
        if form.is_valid():
            device = django_otp.match_token(request.user, form.cleaned_data["code"].strip())
            if device is not None:
                django_otp.login(request, device)
                return redirect(_next_url(request))
            form.add_error("code", "That code does not match.")
    return render(
        request, "registration/otp_verify.html", {"form": form, "next": _next_url(request)}
    )


def _base32(device: StaffTOTPDevice) -> str:
    """The secret as authenticator apps expect it typed in by hand (groups of four)."""
    text = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))
