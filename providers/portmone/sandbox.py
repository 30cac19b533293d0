"""A stand-in for Portmone: the partner API exactly as providers/portmone/client.py
describes it, a phone page where the customer approves or declines, and a console.

State lives in the shared cache (the web and worker processes see the same), never
in kyc tables. The sandbox reaches the portal only over HTTP: the optional
webhook is posted from a daemon thread with bounded retries (kyc/sandbox_kit.py).

Controls for tests and demos (`configure(...)` or the console page):
  token_ttl      seconds a partner token lives (default 3600)
  request_ttl    seconds a share request waits for the customer (default 600)
  reject_tokens  answer 401 to every token (credentials revoked at Portmone)
  expire_tokens  (console action) every token issued so far stops working
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from kyc import sandbox_kit as kit
from providers.portmone import client, schemas

STATE = kit.State("sandbox:portmone")
DEFAULT_CONFIG: dict[str, Any] = {
    "login": "demo-partner",
    "password": "demo-partner-password",
    "token_ttl": 3600,
    "request_ttl": 600,
    "reject_tokens": False,
    "generation": 0,
}
# The demo customer whose facts the phone shares.
PERSONA: dict[str, Any] = {
    "age_over_18": True,
    "age_over_21": True,
    "full_name": "Olena Kovalenko",
    "date_of_birth": "1990-04-12",
    "citizenship": "UA",
}
WEBHOOK_ATTEMPTS = 3


def _now() -> float:
    return time.time()


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def config() -> dict[str, Any]:
    return {**DEFAULT_CONFIG, **(STATE.get("config") or {})}


def configure(**changes: Any) -> dict[str, Any]:
    """Change the sandbox's behaviour (tests call this directly; humans use the console)."""
    cfg = {**config(), **changes}
    STATE.set("config", cfg)
    return cfg


def expire_all_tokens() -> None:
    configure(generation=int(config()["generation"]) + 1)


def stats() -> dict[str, int]:
    """How many tokens were issued and refused (lets tests prove 'renewed once')."""
    return {k: STATE.counted(f"stat:{k}") for k in ("issued", "refused")}


def _count(name: str) -> None:
    STATE.count(f"stat:{name}")


def _error(status: int, error: str, message: str) -> JsonResponse:
    return JsonResponse({"error": error, "message": message}, status=status)


def _partner(request: HttpRequest) -> str | None:
    """The partner login behind a valid bearer token, or None (→ 401)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        return None
    entry = STATE.get(f"token:{token}")
    cfg = config()
    if (
        not entry
        or entry["expires_at"] <= _now()
        or entry["generation"] != cfg["generation"]
        or cfg["reject_tokens"]
    ):
        _count("refused")
        return None
    return str(entry["login"])


def _load(share_id: str) -> dict[str, Any] | None:
    share = STATE.get(f"req:{share_id}")
    if share and share["status"] == schemas.PENDING and share["expires_at"] <= _now():
        share["status"] = schemas.EXPIRED
        _save(share)
    return share


def _save(share: dict[str, Any]) -> None:
    STATE.set(f"req:{share['id']}", share)


def _public(share: dict[str, Any]) -> dict[str, Any]:
    return {
        client.F_ID: share["id"],
        client.F_STATUS: share["status"],
        client.F_FACTS: share["facts"],
        client.F_EXPIRES_AT: _iso(share["expires_at"]),
    }


# --- partner API ---------------------------------------------------------------


@csrf_exempt
@require_http_methods(["POST"])
def auth(request: HttpRequest) -> JsonResponse:
    data = kit.json_body(request)
    if data is None:
        return _error(400, "bad_request", "body must be a JSON object")
    cfg = config()
    ok_login = secrets.compare_digest(str(data.get(client.F_LOGIN) or ""), cfg["login"])
    ok_password = secrets.compare_digest(str(data.get(client.F_PASSWORD) or ""), cfg["password"])
    if not (ok_login and ok_password):
        return _error(401, "invalid_credentials", "unknown partner login or wrong password")
    token = "pmt_" + secrets.token_urlsafe(24)
    ttl = int(cfg["token_ttl"])
    entry = {"login": cfg["login"], "expires_at": _now() + ttl, "generation": cfg["generation"]}
    STATE.set(f"token:{token}", entry, ttl=ttl + 60)
    _count("issued")
    return JsonResponse(
        {client.F_ACCESS_TOKEN: token, "token_type": "Bearer", client.F_EXPIRES_IN: ttl}
    )


@csrf_exempt
@require_http_methods(["POST"])
def create(request: HttpRequest) -> JsonResponse:
    partner = _partner(request)
    if partner is None:
        return _error(401, "invalid_token", "missing, expired or revoked partner token")
    data = kit.json_body(request)
    if data is None:
        return _error(400, "bad_request", "body must be a JSON object")
    facts = data.get(client.F_FACTS)
    if not isinstance(facts, list) or not facts:
        return _error(400, "bad_request", f"{client.F_FACTS!r} must be a non-empty list")
    unknown = [f for f in facts if f not in PERSONA]
    if unknown:
        return _error(400, "unknown_fact", f"unknown fact(s): {', '.join(map(str, unknown))}")
    share_id = secrets.token_hex(12)
    phone = request.build_absolute_uri(reverse("sandbox_portmone:phone", args=[share_id]))
    share = {
        "id": share_id,
        "partner": partner,
        "facts": facts,
        "reference": str(data.get(client.F_REFERENCE) or ""),
        "callback_url": str(data.get(client.F_CALLBACK_URL) or ""),
        "status": schemas.PENDING,
        "expires_at": _now() + int(config()["request_ttl"]),
        # The code a real Portmone app scans; here it opens the sandbox phone page.
        "code": f"{phone}?c={secrets.token_urlsafe(8)}",
    }
    _save(share)
    return JsonResponse({**_public(share), client.F_CODE: share["code"]}, status=201)


def _own_share(
    request: HttpRequest, share_id: str
) -> tuple[dict[str, Any] | None, JsonResponse | None]:
    partner = _partner(request)
    if partner is None:
        return None, _error(401, "invalid_token", "missing, expired or revoked partner token")
    share = _load(share_id)
    if share is None or share["partner"] != partner:
        return None, _error(404, "not_found", "no such data share request")
    return share, None


@require_http_methods(["GET"])
def status(request: HttpRequest, share_id: str) -> JsonResponse:
    share, error = _own_share(request, share_id)
    if error or share is None:
        return error or _error(404, "not_found", "no such data share request")
    return JsonResponse(_public(share))


@require_http_methods(["GET"])
def facts(request: HttpRequest, share_id: str) -> JsonResponse:
    share, error = _own_share(request, share_id)
    if error or share is None:
        return error or _error(404, "not_found", "no such data share request")
    if share["status"] != schemas.APPROVED:
        return _error(409, "not_approved", f"the request is {share['status']}")
    return JsonResponse(
        {client.F_ID: share["id"], client.F_FACTS: {f: PERSONA[f] for f in share["facts"]}}
    )


# --- the customer's phone ------------------------------------------------------


def _notify(url: str, body: dict[str, Any]) -> None:
    """Tell the partner's webhook, like the real service would: a few tries, then give up."""
    kit.deliver(
        lambda: kit.post(url, name="portmone", json=body),
        retry_delays=[0.5 * (attempt + 1) for attempt in range(WEBHOOK_ATTEMPTS - 1)],
        done=kit.answered,
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def phone(request: HttpRequest, share_id: str) -> HttpResponse:
    share = _load(share_id)
    if share is None:
        return render(request, "sandbox/portmone/phone.html", {"share": None}, status=404)
    if request.method == "POST" and share["status"] == schemas.PENDING:
        action = request.POST.get("action")
        new = {
            "approve": schemas.APPROVED,
            "decline": schemas.DECLINED,
            "expire": schemas.EXPIRED,
        }.get(action or "")
        if new is None:
            return HttpResponse("unknown action", status=400)
        share["status"] = new
        _save(share)
        if share["callback_url"]:
            body = {client.F_ID: share["id"], client.F_STATUS: new}
            kit.in_background(_notify, share["callback_url"], body)
        return redirect("sandbox_portmone:phone", share_id=share_id)
    rows = [(f, PERSONA.get(f)) for f in share["facts"]]
    return render(request, "sandbox/portmone/phone.html", {"share": share, "rows": rows})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def console(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if request.POST.get("action") == "expire_tokens":
            expire_all_tokens()
        else:
            configure(
                token_ttl=max(int(request.POST.get("token_ttl") or 3600), 1),
                request_ttl=max(int(request.POST.get("request_ttl") or 600), 1),
                reject_tokens=request.POST.get("reject_tokens") == "on",
            )
        return redirect("sandbox_portmone:console")
    return render(request, "sandbox/portmone/console.html", {"cfg": config(), "stats": stats()})


def _path(name: str) -> str:
    return client.DEFAULT_PATHS[name].lstrip("/").replace("{id}", "<str:share_id>")


urlpatterns = [
    path(_path("auth_path"), auth, name="auth"),
    path(_path("create_path"), create, name="create"),
    path(_path("status_path"), status, name="status"),
    path(_path("facts_path"), facts, name="facts"),
    path("phone/<str:share_id>/", phone, name="phone"),
    path("", console, name="console"),
]
