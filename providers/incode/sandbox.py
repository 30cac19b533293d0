"""A sandbox Incode: same paths and headers as Incode's Omni API, state in the shared cache.

Like the real vendor it learns the merchant's webhook URL from its own console
(Incode: dashboard > settings > webhook), never from the portal's database:
`POST console/webhook` with the account's `x-api-key` and `{"url": ...}`, or the
HTML form at `console/`. The onboarding URL it hands out carries only an opaque
id, neither the API key nor the session token.

API keys: any key listed in settings.INCODE_SANDBOX_API_KEYS (default: the demo
key). Executive login: any email with settings.INCODE_SANDBOX_EXECUTIVE_PASSWORD.
Admin tokens really expire after settings.INCODE_SANDBOX_TOKEN_SECONDS (24 h by
default); `POST console/expire-admin-tokens` expires a key's tokens at once.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import secrets
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from kyc import sandbox_kit as kit

log = logging.getLogger(__name__)

STATE = kit.State("incode-sbx", ttl=7 * kit.DAY)
DEFAULT_KEYS = ("demo-api-key",)
DEFAULT_EXEC_PASSWORD = "demo-exec-password"

# Deterministic document data the sandbox "reads" from the ID (for tests and demos).
OCR_SAMPLE: dict[str, Any] = {
    "name": {
        "fullName": "JANE SANDBOX DOE",
        "firstName": "JANE",
        "paternalLastName": "SANDBOX",
        "maternalLastName": "DOE",
    },
    "birthDate": 631152000000,
    "gender": "F",
    "documentNumber": "SBXDOC4711",
    "nationality": "MEX",
    "issuingCountry": "MEX",
    "expireAt": "2031-01-01",
    "address": "1 Sandbox Street, Testville",
}


# `/omni/get/onboarding/status` answer per sandbox interview state.
STATUS_OF_STATE = {"finished": "ONBOARDING_FINISHED", "expired": "EXPIRED"}


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _err(status: int, message: str) -> JsonResponse:
    return JsonResponse({"status": status, "message": message}, status=status)


def _api_key(request: HttpRequest) -> str | None:
    key = request.headers.get("x-api-key", "")
    allowed = getattr(settings, "INCODE_SANDBOX_API_KEYS", DEFAULT_KEYS)
    return key if key and key in allowed else None


def _interview(interview_id: str) -> dict[str, Any] | None:
    return STATE.get(f"iv:{interview_id}")


def _save_interview(iv: dict[str, Any]) -> None:
    STATE.set(f"iv:{iv['interviewId']}", iv)


def _admin_ok(request: HttpRequest, key: str) -> bool:
    """The X-Incode-Hardware-Id must be an unexpired admin token issued for this API key."""
    token = request.headers.get("X-Incode-Hardware-Id", "")
    info = STATE.get(f"admin:{_h(token)}") if token else None
    if not info or info["key"] != _h(key):
        return False
    revoked_before = STATE.get(f"revoked-before:{_h(key)}") or 0
    return info["exp"] > time.time() and info["iat"] > revoked_before


def _api(method: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """An endpoint of the API or the console: `method` only, then the account's
    `x-api-key` (Incode's 401 otherwise), then `view(request, key, *args)`."""

    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @require_http_methods([method])
        @functools.wraps(view)
        def endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            key = _api_key(request)
            if key is None:
                return _err(401, "invalid x-api-key")
            return view(request, key, *args, **kwargs)

        return endpoint

    return wrap


def _admin(
    method: str, param: str
) -> Callable[[Callable[[HttpRequest, dict[str, Any]], HttpResponse]], Callable[..., HttpResponse]]:
    """An admin endpoint: what `_api` checks, then an admin token of this key and the
    interview `?<param>=` of this key, not deleted (401, 404); then `view(request, iv)`."""

    def wrap(
        view: Callable[[HttpRequest, dict[str, Any]], HttpResponse],
    ) -> Callable[..., HttpResponse]:
        @_api(method)
        @functools.wraps(view)
        def endpoint(request: HttpRequest, key: str) -> HttpResponse:
            if not _admin_ok(request, key):
                return _err(401, "Unauthorized: admin token missing, expired or revoked")
            iv = _interview(request.GET.get(param, ""))
            if iv is None or iv["key"] != _h(key) or iv.get("deleted"):
                return _err(404, "interview not found")
            return view(request, iv)

        return endpoint

    return wrap


# --- Omni API -------------------------------------------------------------------


@_api("POST")
def omni_start(request: HttpRequest, key: str) -> JsonResponse:
    body = kit.json_body(request) or {}
    if not body.get("configurationId"):
        return _err(400, "configurationId is required")
    interview_id = secrets.token_hex(12)
    token = secrets.token_urlsafe(32)
    client_id = _client_id(key)
    _save_interview(
        {
            "interviewId": interview_id,
            "key": _h(key),
            "clientId": client_id,
            "flowId": str(body["configurationId"]),
            "externalCustomerId": str(body.get("externalCustomerId") or ""),
            "redirectionUrl": str(body.get("redirectionUrl") or ""),
            "token": _h(token),
            "urlId": secrets.token_urlsafe(12),
            "state": "started",
            "outcome": "",
            "approved": False,
        }
    )
    STATE.set(f"token:{_h(token)}", interview_id)
    return JsonResponse({"token": token, "interviewId": interview_id, "clientId": client_id})


def _client_id(key: str) -> str:
    return f"sbx-{_h(key)[:8]}"


@_api("GET")
def onboarding_url(request: HttpRequest, key: str) -> JsonResponse:
    token = request.headers.get("X-Incode-Hardware-Id", "")
    interview_id = STATE.get(f"token:{_h(token)}") if token else None
    iv = _interview(interview_id) if interview_id else None
    if iv is None or iv["key"] != _h(key):
        return _err(401, "Unauthorized: unknown session token")
    STATE.set(f"url:{iv['urlId']}", iv["interviewId"])
    url = request.build_absolute_uri(reverse("sandbox_incode:phone", args=[iv["urlId"]]))
    return JsonResponse({"url": url})


@_api("GET")
def onboarding_status(request: HttpRequest, key: str) -> JsonResponse:
    """Answers to the interview's own session token (what the SDK holds) or an admin token."""
    iv = _interview(request.GET.get("id", ""))
    token = request.headers.get("X-Incode-Hardware-Id", "")
    if iv is None or iv["key"] != _h(key) or iv.get("deleted"):
        return _err(404, "interview not found")
    if not (token and _h(token) == iv["token"]) and not _admin_ok(request, key):
        return _err(401, "Unauthorized")
    return JsonResponse({"onboardingStatus": STATUS_OF_STATE.get(iv["state"], "UNKNOWN")})


@_admin("GET", "id")
def get_score(request: HttpRequest, iv: dict[str, Any]) -> JsonResponse:
    if iv["state"] != "finished":
        # Like Incode, an unfinished (or expired) interview is scored too, and fails: only
        # the onboarding status says whether the score is final.
        return JsonResponse({"overall": {"value": "0.0", "status": "FAIL"}})
    ok = iv["outcome"] == "pass"
    value = "92.4" if ok else "21.0"
    status = "OK" if ok else "FAIL"
    return JsonResponse(
        {
            "idValidation": {"overall": {"value": value, "status": status}},
            "liveness": {"overall": {"value": value, "status": status}},
            "faceRecognition": {"overall": {"value": value, "status": status}},
            "overall": {"value": value, "status": status},
        }
    )


@_admin("GET", "id")
def get_ocr_data(request: HttpRequest, iv: dict[str, Any]) -> JsonResponse:
    if iv["state"] != "finished":
        return JsonResponse({})
    return JsonResponse(OCR_SAMPLE)


@_admin("POST", "interviewId")
def process_approve(request: HttpRequest, iv: dict[str, Any]) -> JsonResponse:
    if iv["state"] != "finished" or iv["outcome"] != "pass":
        return JsonResponse({"success": False, "error": "Session didn't PASS"})
    existing = iv["approved"]
    iv["approved"] = True
    iv.setdefault("uuid", secrets.token_hex(12))
    _save_interview(iv)
    return JsonResponse(
        {
            "success": True,
            "uuid": iv["uuid"],
            "token": secrets.token_urlsafe(24),
            "totalScore": "OK",
            "existingCustomer": existing,
        }
    )


# Colours of the generated images (ID front, ID back, selfie): small, and told apart.
IMAGE_COLOURS = {
    "croppedFrontID": (40, 90, 160),
    "croppedBackID": (90, 140, 200),
    "croppedFace": (200, 150, 110),
    "fullFrameFrontID": (40, 90, 160),
}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain PNG of one colour (stdlib only): what the sandbox "captured"."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@_api("POST")
def get_images(request: HttpRequest, key: str) -> JsonResponse:
    """`POST /omni/get/images` `{"images": [names]}` with the session token (or an admin
    token and `?id=`): `{name: base64}` for each name asked for that was captured."""
    outage = STATE.get(f"images-outage:{_h(key)}")
    if outage:
        return _err(int(outage), "images are not available right now")
    token = request.headers.get("X-Incode-Hardware-Id", "")
    interview_id = STATE.get(f"token:{_h(token)}") if token else None
    if interview_id is None and _admin_ok(request, key):
        interview_id = request.GET.get("id", "")
    iv = _interview(interview_id) if interview_id else None
    if iv is None or iv["key"] != _h(key):
        return _err(401, "Unauthorized")
    if iv.get("deleted"):
        return _err(404, "interview not found")
    names = (kit.json_body(request) or {}).get("images")
    if not isinstance(names, list) or not names:
        return _err(400, "images: a list of image names is required")
    answer: dict[str, str] = {}
    for name in names:
        colour = IMAGE_COLOURS.get(str(name))
        if colour is None or iv["state"] != "finished":
            continue  # not captured
        answer[str(name)] = base64.b64encode(png(48, 30, colour)).decode()
    return JsonResponse(answer)


@_admin("DELETE", "interviewId")
def delete_interview(request: HttpRequest, iv: dict[str, Any]) -> JsonResponse:
    iv.update(deleted=True, externalCustomerId="")
    _save_interview(iv)
    return JsonResponse({"success": True})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@_api("POST")
def executive_login(request: HttpRequest, key: str) -> JsonResponse:
    body = kit.json_body(request) or {}
    password = getattr(settings, "INCODE_SANDBOX_EXECUTIVE_PASSWORD", DEFAULT_EXEC_PASSWORD)
    if not body.get("email") or body.get("password") != password:
        return _err(401, "Invalid email or password")
    lifetime = int(getattr(settings, "INCODE_SANDBOX_TOKEN_SECONDS", 24 * 3600))
    now = time.time()
    exp = now + lifetime
    # Shaped like Incode's JWTs so a client can read `exp`; the signature is random.
    token = ".".join(
        (
            _b64({"alg": "HS256"}),
            _b64({"role": "ADMIN", "iat": int(now), "exp": int(exp)}),
            secrets.token_urlsafe(24),
        )
    )
    STATE.set(f"admin:{_h(token)}", {"key": _h(key), "exp": exp, "iat": now}, ttl=lifetime + 60)
    return JsonResponse({"token": token})


# --- the phone: finishes onboarding, then the webhook goes out -----------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def phone(request: HttpRequest, url_id: str) -> HttpResponse:
    interview_id = STATE.get(f"url:{url_id}")
    iv = _interview(interview_id) if interview_id else None
    if iv is None or iv.get("deleted"):
        return HttpResponse("Unknown onboarding link", status=404)
    if iv["state"] == "expired":
        return HttpResponse("This onboarding link has expired", status=410)
    if request.method == "POST" and iv["state"] != "finished":
        outcome = "pass" if request.POST.get("outcome") == "pass" else "fail"
        iv.update(state="finished", outcome=outcome)
        _save_interview(iv)
        send_webhook_later(iv)
    hook_configured = bool(STATE.get(f"webhook:{iv['key']}"))
    return render(
        request,
        "sandbox/incode/phone.html",
        {"iv": iv, "hook_configured": hook_configured, "url_id": url_id},
    )


def send_webhook_later(iv: dict[str, Any], status: str = "ONBOARDING_FINISHED") -> None:
    """Deliver the onboarding-status webhook from a thread, so the click returns at once."""
    url = STATE.get(f"webhook:{iv['key']}")
    if not url:
        log.info("incode sandbox: no webhook configured for this API key")
        return
    body = {
        "interviewId": iv["interviewId"],
        "onboardingStatus": status,
        "clientId": iv["clientId"],
        "flowId": iv["flowId"],
    }
    kit.in_background(_deliver, url, body)


def _deliver(url: str, body: dict[str, Any]) -> None:
    """Four tries, 0.5, 1 and 2 s apart, until the portal answers anything below 500."""
    kit.deliver(
        lambda: kit.post(url, name="incode", json=body),
        retry_delays=kit.backoff(0.5, 3),
        done=kit.answered,
    )


# --- console (the vendor dashboard) ---------------------------------------------------


@_api("POST")
def console_webhook(request: HttpRequest, key: str) -> JsonResponse:
    url = str((kit.json_body(request) or {}).get("url") or "")
    if not url.startswith(("http://", "https://")):
        return _err(400, "url must be http(s)")
    webhook_configure(api_key=key, url=url)
    return JsonResponse({"success": True})


def webhook_configure(*, api_key: str, url: str) -> None:
    """Where this sandbox sends the webhooks of an API key's interviews (its console setting)."""
    STATE.set(f"webhook:{_h(api_key)}", url)


def webhook_configured(*, api_key: str) -> str | None:
    return STATE.get(f"webhook:{_h(api_key)}")


@_api("POST")
def console_expire_admin_tokens(request: HttpRequest, key: str) -> JsonResponse:
    STATE.set(f"revoked-before:{_h(key)}", time.time() + 0.001)
    return JsonResponse({"success": True})


@_api("POST")
def console_images_outage(request: HttpRequest, key: str) -> JsonResponse:
    """Tests: `/omni/get/images` of this key answers `{"status": 503}` (or 400, ...) until
    `{"status": 0}`."""
    status = int((kit.json_body(request) or {}).get("status") or 0)
    if status:
        STATE.set(f"images-outage:{_h(key)}", status)
    else:
        STATE.delete(f"images-outage:{_h(key)}")
    return JsonResponse({"success": True})


@_api("GET")
def console_interview(request: HttpRequest, key: str, interview_id: str) -> JsonResponse:
    """What the vendor holds about an interview (no PII): lets tests see deletion/approval."""
    iv = _interview(interview_id)
    if iv is None or iv["key"] != _h(key):
        return _err(404, "interview not found")
    return JsonResponse(
        {
            "interviewId": interview_id,
            "state": iv["state"],
            "outcome": iv["outcome"],
            "approved": iv["approved"],
            "deleted": bool(iv.get("deleted")),
            "externalCustomerId": iv["externalCustomerId"],
            "redirectionUrl": iv["redirectionUrl"],
        }
    )


@_api("POST")
def console_expire_interview(request: HttpRequest, key: str, interview_id: str) -> JsonResponse:
    """Incode expires an onboarding the customer did not finish in time: its status becomes
    EXPIRED and the EXPIRED webhook goes out."""
    iv = _interview(interview_id)
    if iv is None or iv["key"] != _h(key):
        return _err(404, "interview not found")
    if iv["state"] == "finished":
        return _err(409, "a finished onboarding does not expire")
    iv["state"] = "expired"
    _save_interview(iv)
    send_webhook_later(iv, status="EXPIRED")
    return JsonResponse({"success": True})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def console(request: HttpRequest) -> HttpResponse:
    """HTML form: set the webhook URL of an API key (what a merchant does in Incode's dashboard)."""
    message = ""
    if request.method == "POST":
        key = request.POST.get("api_key", "")
        url = request.POST.get("url", "")
        allowed = getattr(settings, "INCODE_SANDBOX_API_KEYS", DEFAULT_KEYS)
        if key not in allowed:
            message = "Unknown API key."
        elif not url.startswith(("http://", "https://")):
            message = "The webhook URL must be http(s)."
        else:
            webhook_configure(api_key=key, url=url)
            message = "Webhook URL saved."
    return render(request, "sandbox/incode/console.html", {"message": message})


urlpatterns = [
    path("omni/start", omni_start),
    path("0/omni/onboarding-url", onboarding_url),
    path("omni/get/onboarding/status", onboarding_status),
    path("omni/get/score", get_score),
    path("omni/get/ocr-data", get_ocr_data),
    path("omni/process/approve", process_approve),
    path("omni/get/images", get_images),
    path("omni/interview", delete_interview),
    path("executive/log-in", executive_login),
    path("phone/<str:url_id>/", phone, name="phone"),
    path("console/", console, name="console"),
    path("console/webhook", console_webhook),
    path("console/expire-admin-tokens", console_expire_admin_tokens),
    path("console/images-outage", console_images_outage),
    path("console/interviews/<str:interview_id>", console_interview),
    path("console/interviews/<str:interview_id>/expire", console_expire_interview),
]
