"""Thin functions over Blockpass's 3rdService API. No retries inside (callers decide).

Every call made with a record's token sends it as `Authorization: <access token>`,
with no `Bearer` prefix (the server SDK does the same).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import requests

from kyc import http
from kyc.errors import PermanentError, answer_parse
from providers.blockpass.schemas import Profile, PulledCertificate, Token

PROVIDER = "blockpass"


def _call(method: str, url: str, **kwargs: Any) -> Any:
    """Every call of this module goes through the outbound policy as blockpass."""
    return http.call(method, url, provider=PROVIDER, **kwargs)


TOKEN_GENERATE = "/api/3rdService/token/generate"
TOKEN_RENEW = "/api/3rdService/token/renew"
USER = "/api/3rdService/user"
PROMISE_PULL = "/api/3rdService/merchant/promise/pull/"
# The spec says "authorizationcode"; the SDK sends this misspelling and Blockpass accepts it.
GRANT_TYPE = "authoriaztioncode"

_no_retry: requests.Session | None = None


def _session() -> requests.Session:
    """POSTs are never retried anyway; GET pulls are retried by the task, which counts them."""
    global _no_retry
    if _no_retry is None:
        _no_retry = http.session(retries=0)
    return _no_retry


def _url(api_url: str, path: str) -> str:
    if not api_url:
        raise PermanentError("Blockpass API base URL is not set", code="not_configured")
    return api_url.rstrip("/") + path


def token_generate(
    *,
    api_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    session_code: str | None = None,
    now: dt.datetime,
) -> Token:
    """Exchange the app's one-time `code` (+ `sessionCode` for SSO login) for a record token."""
    body: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "grant_type": GRANT_TYPE,
    }
    if session_code:
        body["session_code"] = session_code
    payload = _call("POST", _url(api_url, TOKEN_GENERATE), json=body, sess=_session())
    return answer_parse(lambda p: Token.from_answer(p, now=now), payload, "token generate")


def token_renew(*, api_url: str, client_secret: str, token: Token, now: dt.datetime) -> Token:
    payload = _call(
        "POST",
        _url(api_url, TOKEN_RENEW),
        json={
            "stoc": token.access_token,
            "stoc_refresh": token.refresh_token,
            "client_secret": client_secret,
        },
        sess=_session(),
    )
    renewed = answer_parse(lambda p: Token.from_answer(p, now=now), payload, "token renew")
    if not renewed.refresh_token:  # some answers omit it: the old refresh token stays valid
        renewed = Token(
            access_token=renewed.access_token,
            refresh_token=token.refresh_token,
            token_type=renewed.token_type,
            expires_at=renewed.expires_at,
        )
    return renewed


def _auth(access_token: str) -> dict[str, str]:
    return {"Authorization": access_token}


def user(*, api_url: str, access_token: str) -> Profile:
    payload = _call("GET", _url(api_url, USER), headers=_auth(access_token), sess=_session())
    return answer_parse(Profile.from_answer, payload, "user")


def promise_pull(*, api_url: str, access_token: str, promise_id: str) -> PulledCertificate:
    """One pull. 404 (NotFoundError) means consumed or gone: Blockpass deletes the raw data
    after the first successful pull."""
    payload = _call(
        "GET",
        _url(api_url, PROMISE_PULL + quote(promise_id, safe="")),
        headers=_auth(access_token),
        sess=_session(),
    )
    return answer_parse(PulledCertificate.from_answer, payload, "promise pull")
