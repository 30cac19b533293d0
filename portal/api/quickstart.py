"""The API quick start page: copyable curl and Python for this merchant and this portal.

The base URL is the one the merchant's browser reached (request.build_absolute_uri), so
the snippets work as shown whatever port or host the portal runs on. With the sandbox on,
the CorePass example carries a CoreID the CorePass sandbox knows
(providers.corepass.coreid.sample_coreid); the API key is read from $API_KEY (keys are
shown once, on the API keys page, and never again).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kyc import registry
from kyc.models import ProviderAccount
from kyc.permissions import Action, current_merchant, require
from providers.corepass.coreid import sample_coreid

REFERENCE = "customer-42"

CURL = """\
export PORTAL={base}
export API_KEY=kp_...            # your key, from the API keys page

# 1. Create a verification (the Idempotency-Key makes a retry safe)
TRANSFER_ID=$(curl -s -X POST "$PORTAL/api/v1/transfers/" \\
  -H "Authorization: Bearer $API_KEY" -H "Content-Type: application/json" \\
  -H "Idempotency-Key: {reference}-1" \\
  -d '{body}' \\
  | tee /dev/stderr | python3 -c 'import json, sys; print(json.load(sys.stdin).get("id", ""))')

# 2. Read its status
curl -s "$PORTAL/api/v1/transfers/$TRANSFER_ID/" -H "Authorization: Bearer $API_KEY"

# 3. Cancel it
curl -s -X POST "$PORTAL/api/v1/transfers/$TRANSFER_ID/cancel/" -H "Authorization: Bearer $API_KEY"
"""

PYTHON = """\
import os
import uuid

import requests

PORTAL = "{base}"
AUTH = {{"Authorization": "Bearer " + os.environ["API_KEY"]}}  # your key, from the API keys page

# 1. Create a verification (the Idempotency-Key makes a retry safe)
r = requests.post(
    f"{{PORTAL}}/api/v1/transfers/",
    headers={{**AUTH, "Idempotency-Key": str(uuid.uuid4())}},
    json={body},
    timeout=30,
)
r.raise_for_status()
transfer = r.json()
print("Send the customer to", transfer["page_url"])

# 2. Read its status
r = requests.get(f"{{PORTAL}}/api/v1/transfers/{{transfer['id']}}/", headers=AUTH, timeout=30)
print("Status:", r.json()["status"])

# 3. Cancel it
r = requests.post(f"{{PORTAL}}/api/v1/transfers/{{transfer['id']}}/cancel/", headers=AUTH, timeout=30)
print("Status:", r.json()["status"])
"""


def example_body(provider: str) -> dict[str, Any]:
    """What to POST for this provider; CorePass with a CoreID the sandbox knows."""
    body: dict[str, Any] = {"provider": provider, "reference": REFERENCE}
    if provider == "corepass":
        body["coreid"] = sample_coreid() if settings.SANDBOX else "<the customer's CoreID>"
        body["items"] = ["SH_EMAIL"]
    return body


def _provider_for(merchant: Any) -> str:
    """CorePass when the merchant has it enabled, else their first provider that starts
    verifications, else CorePass (the page still shows the shape of the call)."""
    starts = [p.name for p in registry.providers() if getattr(p, "starts_transfers", False)]
    enabled = set(
        ProviderAccount.objects.filter(merchant=merchant, enabled=True).values_list(
            "provider", flat=True
        )
    )
    usable = [p for p in starts if p in enabled]
    if "corepass" in usable or not usable:
        return "corepass"
    return usable[0]


def _lines(body: dict[str, Any], indent: str) -> str:
    """One key per line, values compact: readable in a narrow card, valid JSON and Python."""
    rows = ",\n".join(f"{indent}    {json.dumps(k)}: {json.dumps(v)}" for k, v in body.items())
    return "{\n" + rows + "\n" + indent + "}"


def snippets(*, base: str, provider: str) -> dict[str, str]:
    body = example_body(provider)
    return {
        "curl": CURL.format(base=base, reference=REFERENCE, body=_lines(body, "  ")),
        "python": PYTHON.format(base=base, body=_lines(body, "    ")),
    }


@login_required
@require(Action.VIEW)
def quickstart(request: HttpRequest) -> HttpResponse:
    merchant = current_merchant(request)
    base = request.build_absolute_uri("/").rstrip("/")
    provider = _provider_for(merchant)
    return render(
        request,
        "portal/quickstart.html",
        {
            "merchant": merchant,
            "base": base,
            "provider": provider,
            "provider_label": registry.get(provider).label,
            "coreid": sample_coreid() if settings.SANDBOX and provider == "corepass" else "",
            **snippets(base=base, provider=provider),
        },
    )
