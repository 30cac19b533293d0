"""Blockpass-facing endpoints: the merchant's webhook and the API the Blockpass app calls.

Both sit behind the intake's guards (kyc.intake.inbound); the webhook is received by
kyc.intake.receive, with BlockpassProvider.inbound_check verifying it. Answers to the app
follow the server SDK (`{err, msg}` on errors).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from kyc import intake, webhooks
from kyc.contract import json_object
from kyc.errors import AuthenticationError, InvalidInput, ProviderError, RetryableError
from providers.blockpass import services

log = logging.getLogger(__name__)


@intake.inbound(provider=services.PROVIDER)
def webhook(request: HttpRequest, token: str) -> HttpResponse:
    """The merchant's webhook: verified in memory, stored once, processed by a worker."""
    return intake.receive(request)


# --- the merchant API the Blockpass app calls -----------------------------------------


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"err": status, "msg": message}, status=status)


def _params(request: HttpRequest) -> dict[str, Any]:
    """JSON, urlencoded or multipart (upload): one flat dict of strings / lists."""
    ctype = request.content_type or ""
    if ctype.startswith("application/json"):
        return json_object(webhooks.read_body(request) or b"{}", InvalidInput)
    out: dict[str, Any] = {}
    for key in request.POST:
        values = request.POST.getlist(key)
        out[key.removesuffix("[]")] = values if len(values) > 1 or key.endswith("[]") else values[0]
    return out


def _list(value: Any) -> list[str]:
    """slugList/fieldList arrive as a list, a JSON array string, or comma-separated."""
    if isinstance(value, list):
        items: list[Any] = value
    elif isinstance(value, str) and value.strip().startswith("["):
        try:
            items = json.loads(value)
        except ValueError:
            items = []
    else:
        items = str(value or "").split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def _merchant_api(request: HttpRequest, action: str) -> JsonResponse:
    account = intake.sender_of(request).account
    params = _params(request)
    code = str(params.get("code") or "")
    session_code = str(params.get("sessionCode") or "")
    ref_id = str(params.get("refId") or "")
    if action == "register":
        return JsonResponse(services.merchant_register(account=account, code=code, ref_id=ref_id))
    if action == "login":
        return JsonResponse(
            services.merchant_login(
                account=account, code=code, session_code=session_code, ref_id=ref_id
            )
        )
    if action == "status":
        return JsonResponse(
            services.merchant_status(account=account, code=code, session_code=session_code)
        )
    if action == "resubmit":
        if "fieldList" not in params or "certList" not in params:
            raise InvalidInput("Missing fieldList or certList")
        return JsonResponse(
            services.merchant_resubmit(
                account=account,
                code=code,
                field_list=_list(params.get("fieldList")),
                cert_list=_list(params.get("certList")),
            )
        )
    if action == "upload":
        if "slugList" not in params:
            raise InvalidInput("Missing slugList")
        values = {
            k: v if isinstance(v, str) else str(v)
            for k, v in params.items()
            if k not in ("accessToken", "slugList")
        }
        files = {}
        for name in request.FILES:
            f = request.FILES.getlist(name)[0]
            files[name] = services.UploadedFile(
                name=f.name or name, content_type=f.content_type or "", data=f.read()
            )
        return JsonResponse(
            services.merchant_upload(
                account=account,
                upload=services.Upload(
                    access_token=str(params.get("accessToken") or ""),
                    slug_list=_list(params.get("slugList")),
                    values=values,
                    files=files,
                ),
            )
        )
    raise Http404("unknown action")


@intake.inbound(provider=services.PROVIDER)
def merchant_api(request: HttpRequest, token: str, action: str) -> JsonResponse:
    if webhooks.too_many(request, "blockpass-api"):
        return _error(429, "too many requests")
    try:
        return _merchant_api(request, action)
    except InvalidInput as exc:
        return _error(400, exc.message)
    except webhooks.BodyTooLarge:
        return _error(413, "body too large")
    except AuthenticationError as exc:
        # The code was refused or our client credentials were: the app must start again.
        return _error(401, f"Handshake failed: {exc.message}"[:300])
    except RetryableError as exc:
        return _error(503, f"Blockpass unavailable: {exc.message}"[:300])
    except ProviderError as exc:
        return _error(400, f"Handshake failed: {exc.message}"[:300])
