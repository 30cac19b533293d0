"""End to end on a live server and a real worker: API → QR page → sandbox phone approves
→ facts pulled server-side → completed; nothing secret ever reaches the customer's browser."""

import time

import pytest
import requests
from django.db import connection

from kyc.models import IdentityField, TransferRequest
from tests.conftest import wait_for
from tests.portmone.conftest import make_account

FACTS = ["age_over_18", "full_name", "date_of_birth", "citizenship"]
SECRET_VALUES = ["Olena Kovalenko", "1990-04-12"]


@pytest.mark.worker
def test_it_completes_after_the_phone_approves_and_keeps_secrets_off_the_page(
    public_url, celery_worker_process, live_account, api
) -> None:
    r = api.post(
        "/api/v1/transfers/",
        {"provider": "portmone", "reference": "e2e", "items": FACTS},
        format="json",
    )
    assert r.status_code == 201, r.content
    t = TransferRequest.objects.get(pk=r.json()["id"])
    browser = requests.Session()
    seen = [browser.get(f"{public_url}/t/{t.page_token}/").text]
    assert "<svg" in seen[0]

    phone = requests.post(
        f"{public_url}/sandbox/portmone/phone/{t.provider_ref}/",
        data={"action": "approve"},
        allow_redirects=False,
    )
    assert phone.status_code == 302

    def fragment_until_done() -> bool:
        r = browser.get(f"{public_url}/t/{t.page_token}/status")
        seen.append(r.text)
        if r.status_code == 286:
            return True
        time.sleep(0.8)
        return False

    wait_for(fragment_until_done, timeout=30)
    seen.append(browser.get(f"{public_url}/t/{t.page_token}/").text)
    t.refresh_from_db()
    assert t.status == "completed"
    assert "All done" in seen[-2]

    values = {f.key: f.value for f in IdentityField.objects.filter(transfer=t)}
    assert values["full_name"] == "Olena Kovalenko" and set(values) == set(FACTS)
    with connection.cursor() as cur:
        cur.execute("SELECT value FROM kyc_identityfield WHERE transfer_id = %s", [t.pk])
        raw = " ".join(row[0] for row in cur.fetchall())
    assert all(v not in raw for v in SECRET_VALUES)

    data = api.get(f"/api/v1/transfers/{t.pk}/").json()
    assert {d["key"]: d["value"] for d in data["data"]}["date_of_birth"] == "1990-04-12"

    live_account.refresh_from_db()
    token = live_account.state["token"]
    assert token.startswith("pmt_")
    everything = "\n".join(seen)
    assert token not in everything
    assert all(v not in everything for v in SECRET_VALUES)


@pytest.mark.worker
def test_it_learns_of_approval_from_the_webhook_without_the_page_open(
    public_url, celery_worker_process, merchant, api
) -> None:
    from kyc.models import InboundEvent

    make_account(merchant, f"{public_url}/sandbox/portmone/", webhook_enabled=True)
    r = api.post("/api/v1/transfers/", {"provider": "portmone", "reference": "wh"}, format="json")
    t = TransferRequest.objects.get(pk=r.json()["id"])
    requests.post(
        f"{public_url}/sandbox/portmone/phone/{t.provider_ref}/", data={"action": "approve"}
    )
    event = wait_for(
        lambda: InboundEvent.objects.filter(provider="portmone", state="processed").first()
    )
    assert event.kind == "share.approved" and event.transfer_id == t.pk
    wait_for(lambda: TransferRequest.objects.get(pk=t.pk).status == "completed")
    assert IdentityField.objects.filter(transfer=t).count() == 2
