"""Authenticator setup codes (kyc.models.StaffSetupCode): issued and shown once, checked
before the QR code, spent when the authenticator they let in is confirmed."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from kyc.models import StaffSetupCode
from kyc.services.audit import audit_log

# No 0/O, 1/I/L: read aloud or typed from a note without doubt. 12 of them: 60 bits.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_LENGTH = 12


def _digest(code: str) -> str:
    return salted_hmac("kyc.staff_setup_code", _normal(code), algorithm="sha256").hexdigest()


def _normal(code: str) -> str:
    """What the person typed, without spaces, dashes or case."""
    return "".join(c for c in code.upper() if c.isalnum())


def setup_code_hours() -> int:
    return int(getattr(settings, "STAFF_SETUP_CODE_HOURS", 72))


def staff_setup_code_issue(*, user: Any, actor: Any = None) -> str:
    """A new setup code for `user` (any earlier one stops working); returned once, as
    XXXX-XXXX-XXXX, never stored. Audited without the code."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    now = timezone.now()
    with transaction.atomic():
        StaffSetupCode.objects.update_or_create(
            user=user,
            defaults={
                "digest": _digest(raw),
                "created_at": now,
                "expires_at": now + dt.timedelta(hours=setup_code_hours()),
                "created_by": actor if getattr(actor, "pk", None) else None,
            },
        )
        audit_log(
            actor=actor,
            action="staff.setup_code_issued",
            obj=user,
            detail={"hours": setup_code_hours()},
        )
    return "-".join(raw[i : i + 4] for i in range(0, _LENGTH, 4))


def staff_setup_code_valid(*, user: Any, digest: str) -> bool:
    """Whether the code a session showed still stands (not reissued, expired or spent)."""
    return StaffSetupCode.objects.filter(
        user=user, digest=digest, expires_at__gt=timezone.now()
    ).exists()


def staff_setup_code_check(*, user: Any, code: str) -> str | None:
    """The code's digest when `code` is the user's unexpired setup code (the session keeps
    it while the person scans the QR code), else None. The code stays until spent. The
    digest is keyed (SECRET_KEY), so looking it up tells a guesser nothing by its timing."""
    digest = _digest(code)
    return digest if staff_setup_code_valid(user=user, digest=digest) else None


def staff_setup_code_spend(*, user: Any) -> None:
    """The authenticator it was for is confirmed: the code is gone (it set up one, once)."""
    StaffSetupCode.objects.filter(user=user).delete()
