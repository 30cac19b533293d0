"""A CorePass connector (and the customer's CorePass app) for demos and tests.

Plays the vendor: the four connector endpoints with the documented validation
answers, its own Ed448 key (derived from SECRET_KEY, so `manage.py demo` can
configure the matching public key), callbacks signed exactly as the real connector
signs them, and a phone page where the customer approves or declines. State lives
in the shared cache; the portal is reached only over HTTP, from a daemon thread
(kyc/sandbox_kit.py).

Console helpers (not part of the real connector, for tests and demos):
- POST console/users/<coreid>  {"verified": [...]}  sets what the customer has verified.
- phone/<id>/approve?mode=silent  approves but sends no callbacks (lost callbacks).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from kyc import sandbox_kit as kit
from providers.corepass import coreid
from providers.corepass import items as catalogue
from providers.corepass.signature import (
    DEADLINE_WINDOW,
    data_message,
    field_hash,
    public_bytes,
    sign,
    sign_status,
)

STATE = kit.State("corepass-sandbox")
ONGOING = frozenset(
    {
        "INITIATE_SUBMITTED",
        "INITIATED",
        "KYC_RECEIVED",
        "VALIDITY_CHECK",
        "VALIDITY_SUCCEED",
        "CONFIRM_SUBMITTED",
        "CONFIRMED",
        "CALLBACK_SUCCEED",
        "CALLBACK_FAILED",
    }
)
FINISHED = frozenset({"FINISH_SUCCESS", "FINISH_FAILED"})
TX_STATUSES = frozenset(
    {
        "INITIATE_SUBMITTED",
        "VALIDITY_CHECK",
        "VALIDITY_SUCCEED",
        "CONFIRM_SUBMITTED",
        "CALLBACK_SUCCEED",
        "CALLBACK_FAILED",
        "FINISH_SUCCESS",
        "FINISH_FAILED",
    }
)
# What the sandbox customer has verified unless the console says otherwise: no ID card
# and no residence permit, so SH_ANY_<FIELD> visibly resolves to the passport.
DEFAULT_VERIFIED: frozenset[str] = frozenset(
    {i for i in catalogue.CATALOGUE if "_Passport_" in i or "_DriverLicense_" in i}
    | set(catalogue.PLAIN)
)
_FAKE = {
    "FULLNAME": "Alex Sandbox",
    "DOB": "1986-09-06",
    "ExpiryDate": "2031-05-01",
    "IssueDate": "2021-05-01",
    "DocumentNumber": "X1234567",
    "Gender": "M",
    "Country": "DE",
    "DocumentImage": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "FaceImage": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "AML_Check": "passed",
    "AML_Detail": "no hits",
    "EMAIL": "alex.sandbox@example.com",
    "PHONE": "+4930123456789",
}


# --- the connector's key -------------------------------------------------------


def private_key() -> Ed448PrivateKey:
    """Deterministic per installation: the demo's configured public key always matches."""
    seed = hashlib.shake_256(b"corepass-sandbox-connector:" + settings.SECRET_KEY.encode())
    return Ed448PrivateKey.from_private_bytes(seed.digest(57))


def public_key_hex() -> str:
    return public_bytes(private_key()).hex()


def sample_coreid() -> str:
    """A CoreID this sandbox knows (every valid one has the default verified items)."""
    return coreid.sample_coreid()


def demo_hint() -> str:
    """Printed by `manage.py demo` and shown on /sandbox/."""
    return f"Sample CoreID (the CorePass sandbox knows it): {sample_coreid()}"


# --- state in the cache --------------------------------------------------------


def _pair(user: str, items: Iterable[str]) -> str:
    """The state name of the one request per customer and item set."""
    digest = hashlib.sha256(json.dumps([user, sorted(items)]).encode()).hexdigest()
    return f"pair:{digest}"


def get_request(rid: str) -> dict[str, Any] | None:
    return STATE.get(f"req:{rid}")


def _save(req: dict[str, Any]) -> None:
    STATE.set(f"req:{req['id']}", req)


def _verified_for(user: str) -> set[str]:
    stored = STATE.get(f"verified:{user}")
    return set(stored) if stored is not None else set(DEFAULT_VERIFIED)


def _latest(req: dict[str, Any]) -> dict[str, Any]:
    return req["statuses"][-1]


def _add_status(rid: str, status: str, tx_hash: str = "") -> dict[str, Any] | None:
    req = get_request(rid)
    if req is None:  # the request was dropped from the cache (e.g. cleared): stop quietly
        return None
    entry = {"status": status, "created_at": int(time.time())}
    if tx_hash:
        entry["tx_hash"] = tx_hash
    req["statuses"].append(entry)
    _save(req)
    return req


# --- HTTP helpers ----------------------------------------------------------------


def _bad(text: str) -> HttpResponse:
    # The connector answers its validation errors as plain text with status 400.
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


def _user_items(request: HttpRequest) -> tuple[dict[str, Any], str, list[str]] | HttpResponse:
    """The body, `user` and `items` of a connector request, or the connector's 400 answer."""
    body = kit.json_body(request)
    if body is None:
        return _bad("invalid request body")
    user = str(body.get("user") or "")
    if not coreid.is_valid(user):
        return _bad("user is not a valid core id")
    items = body.get("items")
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        return _bad("items should be a non-empty list of strings")
    return body, user.lower(), items


def _connector(
    view: Callable[[HttpRequest, dict[str, Any], str, list[str]], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A connector endpoint: POST only, its body's `user` and `items` checked first (the
    connector's 400 otherwise), then `view(request, body, user, items)`."""

    @csrf_exempt
    @require_POST
    @functools.wraps(view)
    def endpoint(request: HttpRequest) -> HttpResponse:
        parsed = _user_items(request)
        if isinstance(parsed, HttpResponse):
            return parsed
        return view(request, *parsed)

    return endpoint


# --- connector endpoints --------------------------------------------------------


@_connector
def verified(
    request: HttpRequest, body: dict[str, Any], user: str, items: list[str]
) -> HttpResponse:
    have = _verified_for(user)
    answer: dict[str, Any] = {"unVerifiedItems": [i for i in items if i not in have]}
    ok = [i for i in items if i in have]
    if ok:
        answer = {"verifiedItems": ok, **answer}
    return JsonResponse(answer)


@_connector
def qrcode(request: HttpRequest, body: dict[str, Any], user: str, items: list[str]) -> HttpResponse:
    now = int(time.time())
    expiration = body.get("expiration")
    if (
        not isinstance(expiration, int)
        or isinstance(expiration, bool)
        or not now + 300 <= expiration <= now + 900
    ):
        return _bad(
            "expiration time is invalid, it should be unix time in seconds and between 5-15 minutes"
        )
    if not body.get("callback") or not body.get("statusCallback"):
        return _bad("callback and statusCallback are required")
    if not set(items) <= _verified_for(user):
        return _bad("user does not have the requested items verified")
    previous = _request_of(user, items)
    if previous is not None:
        state = _latest(previous)["status"]
        if state in ONGOING:
            return _bad("there is an ongoing request for this user and items")
        if state in ("PENDING", "ACCEPTED") and previous["expiration"] >= now:
            return JsonResponse(_qr_answer(previous, body, already_sent=True))
    rid = secrets.token_urlsafe(12)
    req = {
        "id": rid,
        "user": user,
        "items": items,
        "callback": str(body["callback"]),
        "statusCallback": str(body["statusCallback"]),
        "expiration": expiration,
        "link": request.build_absolute_uri(reverse("sandbox_corepass:phone", args=[rid])),
        "statuses": [{"status": "PENDING", "created_at": now}],
        "outcome": "",
    }
    _save(req)
    STATE.set(_pair(user, items), rid)
    kit.in_background(_send_status, rid, "PENDING", "")
    return JsonResponse(_qr_answer(req, body, already_sent=False))


def _qr_answer(req: dict[str, Any], body: dict[str, Any], *, already_sent: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {"link": req["link"], "expiration": req["expiration"]}
    if not body.get("withoutQRCode"):
        answer["qrcode"] = _png_base64(req["link"])
    if already_sent:
        answer["alreadySent"] = True
    return answer


def _png_base64(text: str) -> str:
    """The real connector sends a base64 PNG; without an imaging library installed the
    sandbox sends a base64 SVG (the portal asks withoutQRCode and never reads it)."""
    import base64

    import qrcode as qr
    import qrcode.image.svg

    image = qr.make(text, image_factory=qrcode.image.svg.SvgPathImage)
    return base64.b64encode(image.to_string()).decode()


def _request_of(user: str, items: list[str]) -> dict[str, Any] | None:
    """The latest request for this user and item set, if the connector still has it."""
    return get_request(STATE.get(_pair(user, items)) or "")


def _find(user: str, items: list[str]) -> dict[str, Any] | HttpResponse:
    """The request of this user and items, or the connector's 404."""
    req = _request_of(user, items)
    if req is None:
        return HttpResponse("no request found for this user and items", status=404)
    return req


@_connector
def status(request: HttpRequest, body: dict[str, Any], user: str, items: list[str]) -> HttpResponse:
    req = _find(user, items)
    return req if isinstance(req, HttpResponse) else JsonResponse(_latest(req))


@_connector
def all_statuses(
    request: HttpRequest, body: dict[str, Any], user: str, items: list[str]
) -> HttpResponse:
    req = _find(user, items)
    if isinstance(req, HttpResponse):
        return req
    return JsonResponse({"AllStatuses": list(reversed(req["statuses"]))})


@csrf_exempt
@require_POST
def console_user(request: HttpRequest, user: str) -> HttpResponse:
    body = kit.json_body(request) or {}
    items = body.get("verified")
    if not isinstance(items, list):
        return _bad("verified should be a list")
    STATE.set(f"verified:{user.lower()}", [str(i) for i in items])
    return JsonResponse({"user": user.lower(), "verified": items})


# --- the customer's phone --------------------------------------------------------


@csrf_exempt  # a sandbox stand-in for the CorePass app; tests drive it over plain HTTP
@require_http_methods(["GET", "POST"])
def phone(request: HttpRequest, rid: str, action: str = "") -> HttpResponse:
    req = get_request(rid)
    if req is None:
        raise Http404("No such request")
    message = ""
    if request.method == "POST":
        if action not in ("approve", "decline"):
            raise Http404("No such action")
        if req["outcome"]:
            message = f"Already {req['outcome']}."
        elif req["expiration"] < int(time.time()):
            message = "This request has expired."
        else:
            req["outcome"] = "approved" if action == "approve" else "declined"
            _save(req)
            silent = request.GET.get("mode") == "silent"
            kit.in_background(_run_flow, rid, action == "approve", silent)
            message = (
                "You approved. Your data is on its way."
                if action == "approve"
                else "You declined. Nothing will be shared."
            )
    return render(
        request,
        "sandbox/corepass/phone.html",
        {
            "req": req,
            "message": message,
            "status": _latest(req)["status"],
            "approve_url": reverse("sandbox_corepass:phone_action", args=[rid, "approve"]),
            "decline_url": reverse("sandbox_corepass:phone_action", args=[rid, "decline"]),
        },
    )


# --- what the connector sends ------------------------------------------------------


def _step_seconds() -> float:
    return float(getattr(settings, "COREPASS_SANDBOX_STEP_SECONDS", 0.15))


def _retry_delays() -> tuple[float, ...]:
    return tuple(getattr(settings, "COREPASS_SANDBOX_RETRY_SECONDS", (0.5, 1.0, 2.0, 4.0)))


def status_body(req: dict[str, Any], state: str, tx_hash: str, *, now: int) -> dict[str, Any]:
    """A status callback body signed as the real connector signs it."""
    deadline = now + DEADLINE_WINDOW
    fields = [field_hash(i) for i in req["items"]]
    body: dict[str, Any] = {
        "user": req["user"],
        "fields": fields,
        "status": state,
        "expiration": req["expiration"],
        "deadline": deadline,
    }
    if tx_hash:
        body["tx_hash"] = tx_hash
    return sign_status(private_key(), body)


def pepper(user: str, field_id: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%*@#&"
    random_part = "".join(secrets.choice(alphabet) for _ in range(49))
    return (random_part.encode().hex()) + user + field_id.encode().hex()


def fake_value(item: str) -> str:
    return _FAKE.get(item.split("_", 2)[-1] if item.count("_") >= 2 else item[3:], "value")


def peppers(req: dict[str, Any]) -> dict[str, str]:
    """One pepper per field of a request, made once: a retried data callback carries the
    same peppers (they fingerprint the field on the blockchain), only a new deadline."""
    made = dict(req.get("peppers") or {})
    for item in req["items"]:
        made.setdefault(item, pepper(req["user"], item))
    return made


def data_form(req: dict[str, Any], *, now: int) -> dict[str, str]:
    """The data callback's multipart fields; `infos` is a JSON text part."""
    deadline = now + DEADLINE_WINDOW
    fixed = peppers(req)
    infos = [{"fieldID": i, "fieldValue": fake_value(i), "pepper": fixed[i]} for i in req["items"]]
    return {
        "user": req["user"],
        "infos": json.dumps(infos),
        "deadline": str(deadline),
        "expiration": str(req["expiration"]),
        "signature": sign(private_key(), data_message(deadline=deadline)),
    }


def error_form(req: dict[str, Any], error: str, *, now: int) -> dict[str, str]:
    """The error callback. Its real signed message is unknown; the sandbox signs the
    deadline line like the data callback (the portal treats it only as a hint anyway)."""
    deadline = now + DEADLINE_WINDOW
    return {
        "user": req["user"],
        "items": json.dumps(req["items"]),
        "error": error,
        "deadline": str(deadline),
        "expiration": str(req["expiration"]),
        "signature": sign(private_key(), data_message(deadline=deadline)),
    }


_CALLBACK_PATH = re.compile(r"(/hooks/corepass/t/)[^/\s\"']+")


class _HideCallbackTokens(logging.Filter):
    """urllib3 logs every request line at DEBUG; the sandbox's requests are the portal's
    own callback URLs, whose token must not reach a log (of the same process, in demos)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and any("/hooks/corepass/t/" in str(a) for a in record.args):
            record.msg = _CALLBACK_PATH.sub(r"\1[token]", record.getMessage())
            record.args = None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_HideCallbackTokens())


def _post(url: str, **kwargs: Any) -> int:
    return kit.post(url, name="corepass", timeout=10, **kwargs)


def _send_status(rid: str, state: str, tx_hash: str) -> None:
    req = get_request(rid)
    if req is None:
        return
    _post(req["statusCallback"], json=status_body(req, state, tx_hash, now=int(time.time())))


def _send_data(rid: str) -> bool:
    """POST the data; retry non-200 answers on a (short) schedule, like NATS_CALLBACK_TOPICS."""
    req = get_request(rid)
    if req is None:
        return False
    req["peppers"] = peppers(req)
    _save(req)
    dropped = -1  # the request left the cache between attempts: stop

    def send() -> int:
        req = get_request(rid)
        if req is None:
            return dropped
        files = {k: (None, v) for k, v in data_form(req, now=int(time.time())).items()}
        return _post(req["callback"], files=files)  # a fresh deadline per attempt

    done = kit.deliver(send, retry_delays=_retry_delays(), done=lambda s: s in (200, dropped))
    return done == 200


def _run_flow(rid: str, approve: bool, silent: bool = False) -> None:
    step = _step_seconds()

    def advance(state: str, tx_hash: str = "") -> bool:
        time.sleep(step)
        if _add_status(rid, state, tx_hash if state in TX_STATUSES else "") is None:
            return False
        if not silent:
            _send_status(rid, state, tx_hash if state in TX_STATUSES else "")
        return True

    if not approve:
        if not advance("FINISH_FAILED"):
            return
        req = get_request(rid)
        if req is not None and not silent:
            form = error_form(req, "FINISH_FAILED", now=int(time.time()))
            _post(req["callback"], files={k: (None, v) for k, v in form.items()})
        return
    tx1, tx2 = "0x" + secrets.token_hex(32), "0x" + secrets.token_hex(32)
    for state, tx in (
        ("ACCEPTED", ""),
        ("INITIATE_SUBMITTED", tx1),
        ("INITIATED", ""),
        ("KYC_RECEIVED", ""),
        ("VALIDITY_CHECK", tx1),
        ("VALIDITY_SUCCEED", tx1),
        ("CONFIRM_SUBMITTED", tx2),
        ("CONFIRMED", ""),
    ):
        if not advance(state, tx):
            return
    delivered = True if silent else _send_data(rid)
    if delivered:
        if advance("CALLBACK_SUCCEED", tx2):
            advance("FINISH_SUCCESS", tx2)
    else:
        advance("CALLBACK_FAILED", tx2)


urlpatterns = [
    path("api/v1/blockchain/verified", verified, name="verified"),
    path("api/v1/kyc/qrcode", qrcode, name="qrcode"),
    path("api/v1/kyc/status", status, name="status"),
    path("api/v1/kyc/all-statuses", all_statuses, name="all_statuses"),
    path("console/users/<str:user>", console_user, name="console_user"),
    path("phone/<str:rid>/", phone, name="phone"),
    path("phone/<str:rid>/<str:action>", phone, name="phone_action"),
]
