"""What goes over the wire to and from Incode, as small dataclasses (no Django)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from kyc.contract import FieldValue, json_object

# Statuses Incode reports in the onboarding-status webhook, in the order they happen.
# The rank keeps a late intermediate status from overwriting a later one.
ONBOARDING_FINISHED = "ONBOARDING_FINISHED"
STATUS_RANK: dict[str, int] = {
    "ONBOARDING_STARTED": 10,
    "ID_VALIDATION_FINISHED": 20,
    "FACE_VALIDATION_FINISHED": 30,
    "POST_PROCESSING_FINISHED": 40,
    ONBOARDING_FINISHED: 50,
    "MANUAL_REVIEW_APPROVED": 60,
    "MANUAL_REVIEW_REJECTED": 60,
}

# Final without a decision: Incode's purge-webhook sample treats EXPIRED as the end of an
# onboarding. Ranked above every step so nothing later overwrites it.
EXPIRED = "EXPIRED"
FINAL_STATUSES: frozenset[str] = frozenset({EXPIRED})
FINAL_RANK = 100


def is_final(status: str) -> bool:
    """An onboarding Incode will not finish any more (once Incode itself says so)."""
    return status in FINAL_STATUSES


# An admin token lives 24 hours (Incode's sample README); used when the token itself
# does not say when it expires.
ADMIN_TOKEN_LIFETIME = dt.timedelta(hours=24)


@dataclass(frozen=True)
class OmniSession:
    """`POST /omni/start` answer. `token` is the session token the SDK may get; never the API key."""

    token: str
    interview_id: str
    client_id: str = ""


@dataclass(frozen=True)
class AdminToken:
    token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Score:
    """`GET /omni/get/score`: only the overall verdict drives decisions."""

    overall_status: str
    overall_value: str = ""

    @property
    def passed(self) -> bool:
        return self.overall_status == "OK"

    @property
    def known(self) -> bool:
        """False while Incode has no verdict yet (the webhook was only a hint)."""
        return self.overall_status not in ("", "UNKNOWN")

    def summary(self) -> dict[str, str]:
        return {"overall_status": self.overall_status, "overall_value": self.overall_value}


@dataclass(frozen=True)
class Approval:
    """`POST /omni/process/approve`. The long-lived customer token it returns is dropped."""

    success: bool
    uuid: str = ""
    total_score: str = ""
    existing_customer: bool = False


@dataclass(frozen=True)
class Webhook:
    """Body of the onboarding-status webhook. Unsigned: a hint, never proof."""

    interview_id: str
    onboarding_status: str
    client_id: str = ""
    flow_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class BadPayload(ValueError):
    pass


def parse_webhook(body: bytes) -> Webhook:
    data = json_object(body or b"", BadPayload)
    interview_id = data.get("interviewId")
    status = data.get("onboardingStatus")
    if not isinstance(interview_id, str) or not interview_id.strip():
        raise BadPayload("interviewId is missing")
    if not isinstance(status, str) or not status.strip():
        raise BadPayload("onboardingStatus is missing")
    return Webhook(
        interview_id=interview_id.strip()[:100],
        onboarding_status=status.strip()[:40],
        client_id=str(data.get("clientId") or "")[:100],
        flow_id=str(data.get("flowId") or "")[:100],
    )


def parse_session(data: Any) -> OmniSession:
    if not isinstance(data, dict) or not data.get("token") or not data.get("interviewId"):
        raise BadPayload("/omni/start answered without token or interviewId")
    return OmniSession(
        token=str(data["token"]),
        interview_id=str(data["interviewId"]),
        client_id=str(data.get("clientId") or ""),
    )


def parse_score(data: Any) -> Score:
    overall = data.get("overall") if isinstance(data, dict) else None
    if not isinstance(overall, dict):
        return Score(overall_status="UNKNOWN")
    return Score(
        overall_status=str(overall.get("status") or "UNKNOWN").upper(),
        overall_value=str(overall.get("value") or ""),
    )


def parse_approval(data: Any) -> Approval:
    if not isinstance(data, dict):
        return Approval(success=False)
    return Approval(
        success=bool(data.get("success")),
        uuid=str(data.get("uuid") or ""),
        total_score=str(data.get("totalScore") or ""),
        existing_customer=bool(data.get("existingCustomer")),
    )


def token_expiry(token: str, *, now: dt.datetime) -> dt.datetime:
    """When an admin token expires: its JWT `exp` claim if readable, else now + 24 h.

    The signature is not checked: the expiry is only used to refresh early, the
    provider stays the judge of validity (a 401 still triggers a refresh).
    """
    parts = token.split(".")
    if len(parts) == 3:
        try:
            pad = "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + pad))
            exp = claims.get("exp") if isinstance(claims, dict) else None
            if isinstance(exp, int | float):
                return dt.datetime.fromtimestamp(exp, tz=dt.UTC)
        except (ValueError, TypeError):
            pass
    return now + ADMIN_TOKEN_LIFETIME


# OCR keys kept as identity fields: (field key, path in the OCR answer).
_OCR_PATHS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("full_name", ("name", "fullName")),
    ("first_name", ("name", "firstName")),
    ("last_name", ("name", "paternalLastName")),
    ("second_last_name", ("name", "maternalLastName")),
    ("birth_date", ("birthDate",)),
    ("gender", ("gender",)),
    ("document_number", ("documentNumber",)),
    ("personal_number", ("personalNumber",)),
    ("nationality", ("nationality",)),
    ("issuing_country", ("issuingCountry",)),
    ("expiration_date", ("expireAt",)),
    ("address", ("address",)),
)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _date_text(value: Any) -> str:
    """Incode sends dates as epoch milliseconds; keep them as ISO dates."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC).date().isoformat()
    return str(value)


def ocr_fields(data: Any) -> list[FieldValue]:
    """The OCR answer as identity fields (values are PII: the caller stores them encrypted)."""
    out: list[FieldValue] = []
    for key, path in _OCR_PATHS:
        value = _dig(data, path)
        if value in (None, "", {}, []):
            continue
        if key in ("birth_date", "expiration_date"):
            text = _date_text(value)
        elif isinstance(value, dict | list):
            text = json.dumps(value, sort_keys=True)
        else:
            text = str(value)
        out.append(FieldValue(key=key, value=text))
    return out


# --- images (`POST /omni/get/images`) --------------------------------------------------

# Incode's image names: the cropped ID front and back and the selfie's face.
IMAGE_KINDS: tuple[str, ...] = ("croppedFrontID", "croppedBackID", "croppedFace")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


@dataclass(frozen=True)
class Image:
    kind: str
    data: bytes
    content_type: str


def image_type(data: bytes) -> str:
    """The image's content type from its first bytes ("" when it is not PNG or JPEG)."""
    return next((ctype for magic, ctype in _MAGIC if data.startswith(magic)), "")


def parse_images(data: Any, kinds: tuple[str, ...] = IMAGE_KINDS) -> list[Image]:
    """`{"croppedFrontID": "<base64>", ...}`: the images asked for that Incode has (a kind
    missing or empty was not captured, e.g. no back side)."""
    if not isinstance(data, dict):
        raise BadPayload("images: expected a JSON object")
    images = []
    for kind in kinds:
        value = data.get(kind)
        if not value:
            continue
        if not isinstance(value, str):
            raise BadPayload(f"images: {kind} is not a base64 string")
        if value.startswith("data:"):
            value = value.partition(",")[2]
        try:
            raw = base64.b64decode("".join(value.split()), validate=True)
        except ValueError:
            raise BadPayload(f"images: {kind} is not valid base64") from None
        ctype = image_type(raw)
        if not ctype:
            raise BadPayload(f"images: {kind} is neither PNG nor JPEG")
        images.append(Image(kind=kind, data=raw, content_type=ctype))
    return images
