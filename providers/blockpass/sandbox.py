"""A Blockpass server (and the customer's Blockpass app) for demos and tests.

Plays the vendor with the real paths and shapes: token generate/renew (answers wrapped in
`{status, refId, data}`), `GET /api/3rdService/user`, and a one-shot certificate-promise
pull (404 after the first success). `Authorization` carries the bare token; a `Bearer `
prefix is refused, as a strict server would. Webhooks are signed with the service's webhook
secret (hex HMAC-SHA256 of the body) and carry a fresh `x-blockpass-delivery` UUID; they are
sent from a daemon thread and retried (bounded) until the merchant answers 2xx.

The "app" page registers a customer (calls the merchant's register endpoint with a one-time
code), uploads fields, and resolves a certificate promise (sends the webhook). The merchant's
base URL is what the portal's settings page shows as the webhook URL (the app calls
`<base>api/<action>`), entered in this sandbox's console like in the Blockpass console.

State lives in the shared cache; the portal is reached only over HTTP (kyc/sandbox_kit.py).

Console helpers (not part of the real Blockpass, for tests and demos): `fail` on a promise
makes its next N pulls answer 503; "expire tokens" makes a customer's tokens answer 401.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

import requests
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kyc import sandbox_kit as kit
from providers.blockpass import signature
from providers.blockpass.schemas import ACTION_CERT_PROMISE_RESOLVED, ACTION_SERVICE_INFO_UPDATED

STATE = kit.State("bpsb")
TOKEN_LIFETIME = 600
DEFAULT_SERVICE = {
    "client_id": "demo_service",
    "client_secret": "demo-client-secret",
    "webhook_secret": "demo-webhook-secret",
    "merchant_url": "",
}
WEBHOOK_ATTEMPTS = 5
WEBHOOK_BACKOFF = 0.5  # seconds, doubled per attempt (0.5, 1, 2, 4)


# --- console state --------------------------------------------------------------------


def service_get(client_id: str) -> dict[str, Any] | None:
    svc = STATE.get(f"svc:{client_id}")
    if svc is None and client_id == DEFAULT_SERVICE["client_id"]:
        return dict(DEFAULT_SERVICE)
    return svc


def service_configure(
    *,
    client_id: str,
    client_secret: str,
    webhook_secret: str,
    merchant_url: str,
) -> dict[str, Any]:
    svc = {
        "client_id": client_id,
        "client_secret": client_secret,
        "webhook_secret": webhook_secret,
        "merchant_url": merchant_url if merchant_url.endswith("/") else merchant_url + "/",
    }
    STATE.set(f"svc:{client_id}", svc)
    return svc


def _wrapped(data: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(
        {"status": "success", "refId": uuid.uuid4().hex, "data": data}, status=status
    )


def _err(status: int, message: str) -> JsonResponse:
    return JsonResponse({"status": "error", "code": status, "message": message}, status=status)


def _json(request: HttpRequest) -> dict[str, Any]:
    return kit.json_body(request) or {}


# --- tokens -----------------------------------------------------------------------------


def _issue(bpid: str, client_id: str) -> dict[str, Any]:
    access, refresh = "bpat_" + secrets.token_urlsafe(24), "bprt_" + secrets.token_urlsafe(24)
    STATE.set(
        f"tok:{access}",
        {"bpid": bpid, "client_id": client_id, "exp": time.time() + TOKEN_LIFETIME},
    )
    STATE.set(f"ref:{refresh}", access)
    STATE.append(f"user-tokens:{bpid}", access, keep=21)
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME,
        "refresh_token": refresh,
    }


def _token_owner(request: HttpRequest) -> dict[str, Any] | None:
    auth = request.headers.get("Authorization", "")
    if not auth or auth.lower().startswith("bearer "):
        return None  # Blockpass takes the bare token
    tok = STATE.get(f"tok:{auth}")
    if not tok or tok["exp"] < time.time():
        return None
    return tok


@csrf_exempt
@require_POST
def token_generate(request: HttpRequest) -> JsonResponse:
    body = _json(request)
    svc = service_get(str(body.get("client_id") or ""))
    if svc is None or svc["client_secret"] != body.get("client_secret"):
        return _err(401, "invalid client credentials")
    code = STATE.get(f"code:{body.get('code') or ''}")
    if not code or code["client_id"] != svc["client_id"]:
        return _err(400, "invalid code")
    STATE.delete(f"code:{body.get('code')}")  # one-time
    return _wrapped(_issue(code["bpid"], svc["client_id"]))


@csrf_exempt
@require_POST
def token_renew(request: HttpRequest) -> JsonResponse:
    body = _json(request)
    refresh = str(body.get("stoc_refresh") or "")
    access = STATE.get(f"ref:{refresh}")
    tok = STATE.get(f"tok:{body.get('stoc') or ''}")
    if not access or access != body.get("stoc") or not tok:
        return _err(401, "invalid refresh token")
    svc = service_get(tok["client_id"])
    if svc is None or svc["client_secret"] != body.get("client_secret"):
        return _err(401, "invalid client secret")
    STATE.delete(f"ref:{refresh}", f"tok:{access}")
    STATE.count("n:renewals")
    return _wrapped(_issue(tok["bpid"], tok["client_id"]))


@require_GET
def user(request: HttpRequest) -> JsonResponse:
    tok = _token_owner(request)
    if tok is None:
        return _err(401, "invalid or expired token")
    profile = STATE.get(f"user:{tok['bpid']}") or {}
    return _wrapped(
        {
            "id": tok["bpid"],
            "smartContractId": profile.get("smartContractId", ""),
            "rootHash": profile.get("rootHash", ""),
            "isSynching": "complete",
        }
    )


@require_GET
def promise_pull(request: HttpRequest, promise_id: str) -> JsonResponse:
    tok = _token_owner(request)
    if tok is None:
        return _err(401, "invalid or expired token")
    key = f"promise:{promise_id}"
    promise = STATE.get(key)
    STATE.count(f"n:pull-calls:{promise_id}")
    if not promise or promise.get("pulled") or promise["bpid"] != tok["bpid"]:
        return _err(404, "certificate promise not found")
    if promise.get("fail", 0) > 0:
        promise["fail"] -= 1
        STATE.set(key, promise)
        return _err(503, "temporarily unavailable")
    # Blockpass deletes the raw data after the first successful pull.
    STATE.set(key, {**promise, "pulled": True, "raw": None})
    STATE.count(f"n:pulls:{promise_id}")
    return _wrapped({"slug": promise["slug"], "raw": promise["raw"]})


def count(name: str) -> int:
    """How many times something happened (e.g. `pulls:<id>` successful pulls)."""
    return STATE.counted(f"n:{name}")


# --- the customer's app -------------------------------------------------------------------


def _log(client_id: str, line: str) -> None:
    STATE.append(f"log:{client_id}", f"{time.strftime('%H:%M:%S')} {line}", keep=31)


def app_register(
    *, client_id: str, name: str = "", email: str = "", ref_id: str = ""
) -> dict[str, Any]:
    """A customer taps "Register" for this service: the app calls the merchant's register
    endpoint with a one-time code (and the `refId` the merchant's page passed, if any).
    Returns {bpid, status, answer}."""
    svc = service_get(client_id)
    if not svc or not svc.get("merchant_url"):
        raise ValueError("configure the merchant URL in the sandbox console first")
    bpid = uuid.uuid4().hex[:24]
    STATE.set(f"user:{bpid}", {"id": bpid, "name": name, "email": email})
    code = new_code(client_id=client_id, bpid=bpid)
    STATE.append(f"users:{client_id}", bpid, keep=51)  # listed before the call
    body = {"code": code, **({"refId": ref_id} if ref_id else {})}
    resp = requests.post(svc["merchant_url"] + "api/register", json=body, timeout=(3, 20))
    answer = _safe_json(resp)
    STATE.set(f"session:{bpid}", answer.get("accessToken", ""))
    _log(client_id, f"register {bpid}: {resp.status_code}")
    return {"bpid": bpid, "status": resp.status_code, "answer": answer}


def session_of(bpid: str) -> str:
    """The accessToken the merchant's register endpoint gave this customer's app ("" if none)."""
    return str(STATE.get(f"session:{bpid}") or "")


def new_code(*, client_id: str, bpid: str) -> str:
    """A fresh one-time code for this customer (what the app sends with /status, /login)."""
    code = "bpc_" + secrets.token_urlsafe(16)
    STATE.set(f"code:{code}", {"bpid": bpid, "client_id": client_id}, ttl=600)
    return code


def app_call(
    *, client_id: str, bpid: str, action: str, extra: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """The app calls /status, /login or /resubmit with a fresh code."""
    svc = service_get(client_id) or {}
    body = {"code": new_code(client_id=client_id, bpid=bpid), **(extra or {})}
    resp = requests.post(svc["merchant_url"] + f"api/{action}", json=body, timeout=(3, 20))
    _log(client_id, f"{action} {bpid}: {resp.status_code}")
    return resp.status_code, _safe_json(resp)


def app_upload(
    *, client_id: str, bpid: str, fields: dict[str, str], access_token: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Multipart upload like the app: accessToken, slugList and one part per field
    (`[cer]slug` for certificates, `[cerPromise]slug` for promise ids)."""
    svc = service_get(client_id) or {}
    token = access_token or session_of(bpid)
    slugs = [k.split("]", 1)[-1] for k in fields]
    parts = [("accessToken", token), *[("slugList", s) for s in slugs], *fields.items()]
    resp = requests.post(
        svc["merchant_url"] + "api/upload",
        files=[(k, (None, v)) for k, v in parts],  # multipart/form-data, as the app sends
        timeout=(3, 20),
    )
    _log(client_id, f"upload {bpid}: {resp.status_code}")
    return resp.status_code, _safe_json(resp)


def promise_create(
    *, client_id: str, bpid: str, slug: str, raw: str, fail: int = 0, promise_id: str = ""
) -> str:
    promise_id = promise_id or uuid.uuid4().hex[:24]
    STATE.set(
        f"promise:{promise_id}",
        {"bpid": bpid, "client_id": client_id, "slug": slug, "raw": raw, "fail": fail},
    )
    return promise_id


def app_resolve_promise(
    *, client_id: str, bpid: str, slug: str, raw: str, fail: int = 0, sync: bool = False
) -> tuple[str, str]:
    """The certificate is ready: Blockpass resolves the promise and tells the merchant.
    Returns (promise id, delivery id)."""
    promise_id = promise_create(client_id=client_id, bpid=bpid, slug=slug, raw=raw, fail=fail)
    delivery = send_webhook(
        client_id=client_id,
        action=ACTION_CERT_PROMISE_RESOLVED,
        data={"certPromisesId": promise_id, "blockpassID": bpid},
        sync=sync,
    )
    return promise_id, delivery


def expire_tokens(*, bpid: str) -> None:
    for access in STATE.get(f"user-tokens:{bpid}") or []:
        tok = STATE.get(f"tok:{access}")
        if tok:
            STATE.set(f"tok:{access}", {**tok, "exp": 0})


# --- webhooks ------------------------------------------------------------------------------


def webhook_body(*, action: str, data: dict[str, Any], is_ping: bool = False) -> bytes:
    return json.dumps(
        {"action": action, "env": "SANDBOX", "isPing": is_ping, "data": data},
        separators=(",", ":"),
    ).encode("utf-8")


def send_webhook(
    *,
    client_id: str,
    action: str,
    data: dict[str, Any],
    is_ping: bool = False,
    delivery: str | None = None,
    body: bytes | None = None,
    sync: bool = False,
) -> str:
    """Sign and send one delivery (fresh UUID unless replaying); retried on non-2xx."""
    svc = service_get(client_id)
    if not svc or not svc.get("merchant_url"):
        raise ValueError("configure the merchant URL in the sandbox console first")
    body = body if body is not None else webhook_body(action=action, data=data, is_ping=is_ping)
    delivery = delivery or str(uuid.uuid4())
    headers = {
        "x-blockpass-event": action,
        "x-blockpass-delivery": delivery,
        "x-blockpass-signature": signature.sign(body, svc["webhook_secret"]),
        "accept": "application/json",
        "content-type": "application/json",
    }
    STATE.set(
        f"last-delivery:{client_id}",
        {"id": delivery, "action": action, "body": body.decode("utf-8")},
    )
    args = (client_id, svc["merchant_url"], body, headers)
    if sync:
        _deliver(*args)
    else:
        kit.in_background(_deliver, *args)
    return delivery


def _deliver(client_id: str, url: str, body: bytes, headers: dict[str, str]) -> int:
    """Until the merchant answers 2xx, at most WEBHOOK_ATTEMPTS times; each on the log."""
    line = f"webhook {headers['x-blockpass-event']} {headers['x-blockpass-delivery'][:8]}"
    return kit.deliver(
        lambda: kit.post(url, name="blockpass", data=body, headers=headers),
        retry_delays=kit.backoff(WEBHOOK_BACKOFF, WEBHOOK_ATTEMPTS - 1),
        after_attempt=lambda status: _log(client_id, f"{line}: {status or 'no answer'}"),
    )


def replay_last(*, client_id: str) -> str | None:
    last = STATE.get(f"last-delivery:{client_id}")
    if not last:
        return None
    return send_webhook(
        client_id=client_id,
        action=last["action"],
        data={},
        delivery=last["id"],
        body=last["body"].encode("utf-8"),
    )


def _safe_json(resp: requests.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {"text": resp.text[:300]}
    return data if isinstance(data, dict) else {"data": data}


# --- pages ---------------------------------------------------------------------------------


def _in_background(fn: Any, client_id: str, **kwargs: Any) -> None:
    """Run an app action after the click returns; an error shows on the page's log."""
    kit.in_background(
        fn,
        client_id=client_id,
        on_error=lambda exc: _log(client_id, f"error: {exc}"),
        **kwargs,
    )


@require_http_methods(["GET", "POST"])
def app_page(request: HttpRequest) -> HttpResponse:
    client_id = request.GET.get("client_id") or request.POST.get("client_id") or "demo_service"
    svc = service_get(client_id) or {**DEFAULT_SERVICE, "client_id": client_id}
    if request.method == "POST":
        action = request.POST.get("action", "")
        p = request.POST
        if action == "configure":
            service_configure(
                client_id=client_id,
                client_secret=p.get("client_secret") or svc["client_secret"],
                webhook_secret=p.get("webhook_secret") or svc["webhook_secret"],
                merchant_url=p.get("merchant_url", ""),
            )
            _log(client_id, "console saved")
        elif action == "register":
            _in_background(
                app_register, client_id, name=p.get("name", ""), email=p.get("email", "")
            )
        elif action == "upload":
            fields = {
                k: p.get(k, "") for k in ("email", "given_name", "family_name", "phone") if p.get(k)
            }
            if p.get("promise_slug"):
                fields[f"[cerPromise]{p['promise_slug']}"] = promise_create(
                    client_id=client_id,
                    bpid=p.get("bpid", ""),
                    slug=p["promise_slug"],
                    raw=p.get("raw", "") or "certificate",
                )
            _in_background(app_upload, client_id, bpid=p.get("bpid", ""), fields=fields)
        elif action == "resolve":
            _in_background(
                app_resolve_promise,
                client_id,
                bpid=p.get("bpid", ""),
                slug=p.get("slug") or "onfido-service-cert",
                raw=p.get("raw") or '{"cert":"demo"}',
                fail=int(p.get("fail") or 0),
            )
        elif action == "status":
            _in_background(
                lambda **kw: app_call(action="status", **kw), client_id, bpid=p.get("bpid", "")
            )
        elif action == "ping":
            send_webhook(
                client_id=client_id,
                action=ACTION_SERVICE_INFO_UPDATED,
                data={"clientId": client_id},
                is_ping=True,
            )
        elif action == "service_info":
            send_webhook(
                client_id=client_id,
                action=ACTION_SERVICE_INFO_UPDATED,
                data={"clientId": client_id},
            )
        elif action == "replay":
            replay_last(client_id=client_id)
        elif action == "expire":
            expire_tokens(bpid=p.get("bpid", ""))
            _log(client_id, f"tokens of {p.get('bpid', '')} expired")
        return redirect(f"{request.path}?client_id={client_id}")
    return render(
        request,
        "sandbox/blockpass/app.html",
        {
            "svc": svc,
            "users": list(reversed(STATE.get(f"users:{client_id}") or [])),
            "log": list(reversed(STATE.get(f"log:{client_id}") or [])),
        },
    )


urlpatterns = [
    path("api/3rdService/token/generate", token_generate, name="token_generate"),
    path("api/3rdService/token/renew", token_renew, name="token_renew"),
    path("api/3rdService/user", user, name="user"),
    path(
        "api/3rdService/merchant/promise/pull/<str:promise_id>", promise_pull, name="promise_pull"
    ),
    path("", app_page, name="app"),
]
