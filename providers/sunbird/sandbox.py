"""A Sunbird that runs inside the portal process, for demos and tests (/sandbox/sunbird/).

It plays Keycloak (password grant; tokens expire), org search/read, assign key,
content update, issue and the certificate registry search. State lives in the
shared cache (kyc/sandbox_kit.py), never in kyc tables. A batch's certificates
are not stored: they are generated deterministically on read from (batch,
generation, index), so a batch of 10,000 learners costs one small cache entry.
Issuing starts a clock; certificates appear `delay` seconds later at `rate` per
second, as Sunbird's Kafka consumer would.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from kyc import sandbox_kit as kit

API_KEY = "demo-sunbird-key"
CLIENT_ID = "admin-cli"
USERS = {"demo-admin": "demo-admin-password"}
ROOT_ORGS = [
    {
        "id": "0126876528934010882",
        "orgName": "Gujarat Council of Educational Research and Training",
        "channel": "gcert",
    },
    {"id": "0128000000000000001", "orgName": "Demo Root Org", "channel": "demo"},
]
DEFAULT_LEARNERS = 25
DEFAULT_DELAY = 1.0  # seconds before the first certificate appears
DEFAULT_RATE = 500.0  # certificates per second after that
STATE = kit.State("sbx:sunbird")
NS = uuid.UUID("7d0a3b8e-6f5c-4a43-9d56-3c1b8f2e5a10")


# --- state helpers ------------------------------------------------------------


def _count(name: str) -> None:
    STATE.count(f"count:{name}")


def _log(entry: dict[str, Any]) -> None:
    STATE.append("calls", {"at": round(time.time(), 3), **entry}, keep=500)


def counts() -> dict[str, int]:
    names = ("token", "org_search", "org_read", "assign_key", "content_update", "issue", "search")
    return {n: STATE.counted(f"count:{n}") for n in names}


def batch_config(batch_id: str) -> dict[str, Any]:
    """Per-batch learners/delay/rate: console-set, else from a trailing number in the id."""
    stored = STATE.get(f"batchcfg:{batch_id}")
    if stored:
        return dict(stored)
    m = re.search(r"(\d+)$", batch_id)
    learners = int(m.group(1)) if m and int(m.group(1)) <= 100_000 else DEFAULT_LEARNERS
    return {"learners": learners, "delay": DEFAULT_DELAY, "rate": DEFAULT_RATE}


# --- answers in Sunbird's envelope -------------------------------------------


def _ok(api: str, result: dict[str, Any]) -> JsonResponse:
    return JsonResponse(
        {
            "id": api,
            "ver": "v1",
            "params": {"status": "successful", "err": None, "errmsg": None},
            "responseCode": "OK",
            "result": result,
        }
    )


def _err(api: str, status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        {
            "id": api,
            "ver": "v1",
            "params": {"status": "failed", "err": code, "errmsg": message},
            "responseCode": code,
            "result": {},
        },
        status=status,
    )


def _auth(request: HttpRequest, api: str, *, user: bool = True) -> JsonResponse | None:
    if request.headers.get("Authorization", "") != f"Bearer {API_KEY}":
        return _err(api, 401, "UNAUTHORIZED", "API key missing or wrong")
    if user:
        token = request.headers.get("X-Authenticated-User-Token", "")
        if not token or STATE.get(f"token:{token}") != STATE.get("token_gen", 1):
            return _err(api, 401, "UNAUTHORIZED", "user token missing, invalid or expired")
    return None


def _allowed(request: HttpRequest, api: str, method: str) -> JsonResponse | None:
    """Sunbird's answer to another method or a refused credential; None: go on."""
    if request.method != method:
        return _err(api, 405, "METHOD_NOT_ALLOWED", f"{method} only")
    return _auth(request, api)


def _body(request: HttpRequest) -> dict[str, Any]:
    return kit.json_body(request) or {}


# --- Keycloak -----------------------------------------------------------------


@csrf_exempt
def token(request: HttpRequest, realm: str) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"error": "invalid_request"}, status=405)
    _count("token")
    p = request.POST
    if p.get("grant_type") != "password" or p.get("client_id") != CLIENT_ID:
        return JsonResponse({"error": "unauthorized_client"}, status=400)
    if USERS.get(p.get("username", "")) != p.get("password") or realm != "sunbird":
        return JsonResponse(
            {"error": "invalid_grant", "error_description": "Invalid user credentials"},
            status=401,
        )
    ttl = int(STATE.get("token_ttl", 300))
    access = secrets.token_urlsafe(24)
    STATE.set(f"token:{access}", STATE.get("token_gen", 1), ttl)
    return JsonResponse(
        {
            "access_token": access,
            "expires_in": ttl,
            "refresh_expires_in": ttl * 2,
            "token_type": "bearer",
        }
    )


# --- org ------------------------------------------------------------------------


@csrf_exempt
def org_search(request: HttpRequest) -> HttpResponse:
    api = "api.org.search"
    if denied := _auth(request, api, user=False):
        return denied
    _count("org_search")
    filters = (_body(request).get("request") or {}).get("filters") or {}
    orgs = ROOT_ORGS if filters.get("isRootOrg") in (True, "true", None) else []
    return _ok(api, {"response": {"count": len(orgs), "content": orgs}})


@csrf_exempt
def org_read(request: HttpRequest) -> HttpResponse:
    api = "api.org.read"
    if denied := _auth(request, api):
        return denied
    _count("org_read")
    org_id = str((_body(request).get("request") or {}).get("organisationId") or "")
    org = next((o for o in ROOT_ORGS if o["id"] == org_id), None)
    if org is None:
        return _err(api, 404, "ORGANISATION_NOT_FOUND", "org not found")
    keys = STATE.get(f"org:{org_id}:keys", {})
    return _ok(api, {"response": {**org, "keys": keys}})


@csrf_exempt
def assign_key(request: HttpRequest) -> HttpResponse:
    api = "api.org.assign.key"
    if denied := _allowed(request, api, "PATCH"):
        return denied
    req = _body(request).get("request") or {}
    org_id = str(req.get("id") or "")
    if not any(o["id"] == org_id for o in ROOT_ORGS):
        return _err(api, 400, "INVALID_ORG_ID", "org not found")
    sign, enc = req.get("signKeys") or [], req.get("encKeys") or []
    if not sign or not enc:
        return _err(api, 400, "MANDATORY_PARAMETER_MISSING", "signKeys and encKeys are required")
    _count("assign_key")
    STATE.set(f"org:{org_id}:keys", {"signKeys": sign, "encKeys": enc})
    _log({"call": "assign_key", "org": org_id, "signKeys": sign, "encKeys": enc})
    return _ok(api, {"response": "SUCCESS"})


# --- course / batch -----------------------------------------------------------


@csrf_exempt
def content_update(request: HttpRequest, course_id: str) -> HttpResponse:
    api = "api.content.update"
    if denied := _allowed(request, api, "PATCH"):
        return denied
    content = (_body(request).get("request") or {}).get("content") or {}
    templates = content.get("certTemplate") or []
    if not isinstance(templates, list) or not all(isinstance(t, dict) for t in templates):
        return _err(api, 400, "ERR_INVALID_REQUEST", "certTemplate must be a list")
    _count("content_update")
    STATE.set(f"course:{course_id}:templates", [t.get("name") for t in templates])
    _log({"call": "content_update", "course": course_id})
    return _ok(api, {"node_id": course_id, "versionKey": str(int(time.time() * 1000))})


@csrf_exempt
def issue(request: HttpRequest) -> HttpResponse:
    api = "api.course.batch.cert.issue"
    if denied := _allowed(request, api, "POST"):
        return denied
    req = _body(request).get("request") or {}
    batch_id, course_id = str(req.get("batchId") or ""), str(req.get("courseId") or "")
    name = str(req.get("certificate") or "")
    if not batch_id or not course_id or not name:
        return _err(api, 400, "MANDATORY_PARAMETER_MISSING", "batchId, courseId, certificate")
    if name not in (STATE.get(f"course:{course_id}:templates") or []):
        return _err(api, 400, "CERT_TEMPLATE_NOT_FOUND", f"no template {name} on {course_id}")
    reissue = request.GET.get("reIssue") == "true"
    _count("issue")
    state = STATE.get(f"batch:{batch_id}")
    # Without reIssue, Sunbird skips learners who have a certificate: nothing new happens.
    if state is None or reissue:
        cfg = batch_config(batch_id)
        gen = (state or {}).get("gen", 0) + 1
        STATE.set(
            f"batch:{batch_id}",
            {"course": course_id, "gen": gen, "issued_at": time.time(), **cfg},
        )
    _log({"call": "issue", "batch": batch_id, "reIssue": reissue})
    # Accepted, but answered late (a slow lms-service): the caller may time out first.
    late = float(batch_config(batch_id).get("answer_delay") or 0)
    if late > 0:
        time.sleep(min(late, 60.0))
    # Accepted, but a gateway in front answers an error (the event was still queued).
    status = int(batch_config(batch_id).get("answer_status") or 200)
    if status >= 400:
        return _err(api, status, "SERVER_ERROR", "upstream answered late or not at all")
    return _ok(api, {"response": "SUCCESS", "batchId": batch_id})


# --- registry -----------------------------------------------------------------


def _visible(state: dict[str, Any], now: float) -> int:
    elapsed = now - state["issued_at"] - float(state.get("delay", 0))
    if elapsed < 0:
        return 0
    rate = float(state.get("rate") or 0)
    n = int(state["learners"])
    return n if rate <= 0 else min(n, int(elapsed * rate))


def _cert(batch_id: str, state: dict[str, Any], i: int, base: str) -> dict[str, Any]:
    cert_id = str(uuid.uuid5(NS, f"{batch_id}:{state['gen']}:{i}"))
    return {
        "_id": cert_id,
        "_source": {
            "id": cert_id,
            "recipient": {"id": f"user-{i:06d}", "name": f"Learner {i}", "type": "individual"},
            "related": {"batchId": batch_id, "courseId": state["course"]},
            "pdfUrl": f"{base}/sandbox/sunbird/certs/{cert_id}.pdf",
            "createdAt": int(state["issued_at"] * 1000) + i,
        },
    }


def _phrases(query: Any) -> dict[str, str]:
    must = ((query or {}).get("bool") or {}).get("must") or []
    out: dict[str, str] = {}
    for clause in must:
        out.update({k: str(v) for k, v in (clause.get("match_phrase") or {}).items()})
    return out


def _newest_first(sort: Any) -> bool:
    first = sort[0] if isinstance(sort, list) and sort else {}
    return isinstance(first, dict) and str(first.get("createdAt", "")).lower() == "desc"


@csrf_exempt
def cert_search(request: HttpRequest) -> HttpResponse:
    api = "api.certs.search"
    if denied := _auth(request, api):
        return denied
    _count("search")
    req = _body(request).get("request") or {}
    phrases = _phrases(req.get("query"))
    batch_id = phrases.get("related.batchId", "")
    offset = max(0, int(req.get("from") or 0))
    size = min(1000, max(1, int(req.get("size") or 100)))
    state = STATE.get(f"batch:{batch_id}") if batch_id else None
    if state is None or phrases.get("related.courseId", state["course"]) != state["course"]:
        return _ok(api, {"response": {"count": 0, "content": []}})
    total = _visible(state, time.time())
    base = request.build_absolute_uri("/").rstrip("/")
    indexes = list(range(offset, min(total, offset + size)))
    if _newest_first(req.get("sort")):
        indexes = [total - 1 - i for i in indexes]
    content = [_cert(batch_id, state, i, base) for i in indexes]
    return _ok(api, {"response": {"count": total, "content": content}})


def cert_pdf(request: HttpRequest, cert_id: str) -> HttpResponse:
    return HttpResponse(
        f"%PDF-1.4\n% sandbox certificate {cert_id}\n", content_type="application/pdf"
    )


# --- console ------------------------------------------------------------------


@csrf_exempt
def console_batch(request: HttpRequest, batch_id: str) -> HttpResponse:
    """Set how many learners a batch has and how fast its certificates appear
    (`answer_delay`: seconds the issue call waits, after accepting, before it answers;
    `answer_status`: the HTTP status it then answers with, 200 unless set)."""
    if request.method == "POST":
        data = _body(request) or request.POST.dict()
        cfg = batch_config(batch_id)
        casts = (
            ("learners", int),
            ("delay", float),
            ("rate", float),
            ("answer_delay", float),
            ("answer_status", int),
        )
        for key, cast in casts:
            if key in data:
                cfg[key] = cast(data[key])
        STATE.set(f"batchcfg:{batch_id}", cfg)
    return JsonResponse({"batchId": batch_id, **batch_config(batch_id)})


@csrf_exempt
def console_token_ttl(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        STATE.set("token_ttl", int((_body(request) or request.POST.dict()).get("seconds", 300)))
    return JsonResponse({"token_ttl": int(STATE.get("token_ttl", 300))})


@csrf_exempt
def console_revoke_tokens(request: HttpRequest) -> HttpResponse:
    """Forget every user token, as a Keycloak restart or logout would (next call: 401)."""
    if request.method == "POST":
        STATE.set("token_gen", int(STATE.get("token_gen", 1)) + 1)
    return JsonResponse({"token_gen": int(STATE.get("token_gen", 1))})


def console_state(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"counts": counts(), "calls": STATE.get("calls", [])})


def console(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "sandbox/sunbird/console.html",
        {"counts": counts(), "calls": list(reversed(STATE.get("calls", []))), "orgs": ROOT_ORGS},
    )


urlpatterns = [
    path("", console, name="console"),
    path("console/state", console_state, name="console_state"),
    path("console/batch/<str:batch_id>", console_batch, name="console_batch"),
    path("console/revoke-tokens", console_revoke_tokens, name="console_revoke_tokens"),
    path("console/token-ttl", console_token_ttl, name="console_token_ttl"),
    path("auth/realms/<str:realm>/protocol/openid-connect/token", token, name="token"),
    path("api/org/v1/search", org_search, name="org_search"),
    path("api/org/v1/read", org_read, name="org_read"),
    path("api/org/v1/assign/key", assign_key, name="assign_key"),
    path("action/system/v3/content/update/<str:course_id>", content_update, name="content_update"),
    path("api/course/batch/cert/v1/issue", issue, name="issue"),
    path("api/certreg/v2/certs/search", cert_search, name="cert_search"),
    path("certs/<str:cert_id>.pdf", cert_pdf, name="cert_pdf"),
]
