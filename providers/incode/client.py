"""Thin functions over Incode's Omni API (paths and headers from Incode's public samples).

Every call carries `x-api-key` and `api-version: 1.0`; calls made with a token add
`X-Incode-Hardware-Id: <session or admin token>`. No retries here (kyc.http
retries idempotent GETs on connection errors only); errors are typed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from kyc import http
from kyc.errors import NotFoundError, PermanentError, answer_parse
from providers.incode import schemas

PROVIDER = "incode"


def _call(method: str, url: str, **kwargs: Any) -> Any:
    """Every call of this module goes through the outbound policy as incode."""
    return http.call(method, url, provider=PROVIDER, **kwargs)


API_VERSION = "1.0"


def _headers(api_key: str, token: str = "") -> dict[str, str]:
    headers = {"x-api-key": api_key, "api-version": API_VERSION, "Content-Type": "application/json"}
    if token:
        headers["X-Incode-Hardware-Id"] = token
    return headers


def _url(api_url: str, path: str) -> str:
    return f"{api_url.rstrip('/')}/{path.lstrip('/')}"


def omni_start(
    *,
    api_url: str,
    api_key: str,
    flow_id: str,
    external_customer_id: str = "",
    redirection_url: str = "",
    language: str = "en-US",
) -> schemas.OmniSession:
    """`POST /omni/start`: the only call that needs the API key alone; starts one interview."""
    body: dict[str, Any] = {"countryCode": "ALL", "configurationId": flow_id, "language": language}
    if redirection_url:
        body["redirectionUrl"] = redirection_url
    if external_customer_id:
        body["externalCustomerId"] = external_customer_id
    data = _call("POST", _url(api_url, "/omni/start"), json=body, headers=_headers(api_key))
    return answer_parse(schemas.parse_session, data, "/omni/start")


def onboarding_url(*, api_url: str, api_key: str, token: str, client_id: str) -> str:
    """`GET /0/omni/onboarding-url?clientId=`: the phone link of the session `token`."""
    data = _call(
        "GET",
        _url(api_url, f"/0/omni/onboarding-url?clientId={quote(client_id)}"),
        headers=_headers(api_key, token),
    )
    url = data.get("url") if isinstance(data, dict) else None
    if not url:
        raise PermanentError(
            "/0/omni/onboarding-url answered without url", code="provider_bad_answer"
        )
    return str(url)


def executive_login(
    *, api_url: str, api_key: str, email: str, password: str, now: dt.datetime
) -> schemas.AdminToken:
    """`POST /executive/log-in`: an admin token (24 h) for scores, OCR, approve and delete."""
    data = _call(
        "POST",
        _url(api_url, "/executive/log-in"),
        json={"email": email, "password": password},
        headers=_headers(api_key),
    )
    token = data.get("token") if isinstance(data, dict) else None
    if not token:
        raise PermanentError("/executive/log-in answered without token", code="provider_bad_answer")
    return schemas.AdminToken(
        token=str(token), expires_at=schemas.token_expiry(str(token), now=now)
    )


def onboarding_status(*, api_url: str, api_key: str, token: str, interview_id: str) -> str:
    """`GET /omni/get/onboarding/status?id=` with the session token: e.g. ONBOARDING_FINISHED.

    Not in Incode's token-server guide; used by Incode's public samples to poll when no webhook arrives.
    """
    data = _call(
        "GET",
        _url(api_url, f"/omni/get/onboarding/status?id={quote(interview_id)}"),
        headers=_headers(api_key, token),
    )
    status = data.get("onboardingStatus") if isinstance(data, dict) else None
    return str(status or "UNKNOWN")


def get_score(*, api_url: str, api_key: str, admin_token: str, interview_id: str) -> schemas.Score:
    data = _call(
        "GET",
        _url(api_url, f"/omni/get/score?id={quote(interview_id)}"),
        headers=_headers(api_key, admin_token),
    )
    return schemas.parse_score(data)


def get_ocr_data(*, api_url: str, api_key: str, admin_token: str, interview_id: str) -> Any:
    """The raw OCR answer (PII): parse with schemas.ocr_fields and store encrypted."""
    return _call(
        "GET",
        _url(api_url, f"/omni/get/ocr-data?id={quote(interview_id)}"),
        headers=_headers(api_key, admin_token),
    )


def process_approve(
    *, api_url: str, api_key: str, admin_token: str, interview_id: str
) -> schemas.Approval:
    data = _call(
        "POST",
        _url(api_url, f"/omni/process/approve?interviewId={quote(interview_id)}"),
        json={},
        headers=_headers(api_key, admin_token),
    )
    return schemas.parse_approval(data)


def delete_interview(*, api_url: str, api_key: str, admin_token: str, interview_id: str) -> bool:
    """`DELETE /omni/interview`: Incode erases the interview's PII. False if it was already gone."""
    try:
        _call(
            "DELETE",
            _url(api_url, f"/omni/interview?interviewId={quote(interview_id)}"),
            headers=_headers(api_key, admin_token),
        )
    except NotFoundError:
        return False
    return True


def get_images(
    *,
    api_url: str,
    api_key: str,
    token: str,
    kinds: tuple[str, ...] = schemas.IMAGE_KINDS,
) -> list[schemas.Image]:
    """`POST /omni/get/images` `{"images": [...]}` with the interview's session token: the
    captured images as base64, one key per name asked for (Incode's public samples)."""
    data = _call(
        "POST",
        _url(api_url, "/omni/get/images"),
        json={"images": list(kinds)},
        headers=_headers(api_key, token),
    )
    return answer_parse(schemas.parse_images, data, "/omni/get/images")
