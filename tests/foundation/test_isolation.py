"""Merchant B gets nothing of merchant A's, through the API or the admin."""

import pytest
from rest_framework.test import APIClient

from kyc import services
from kyc.models import Certificate, KYCRecord, ProviderAccount, TransferRequest
from tests import factories


@pytest.fixture
def a_objects(merchant):
    account = ProviderAccount.objects.create(merchant=merchant, provider="corepass", enabled=True)
    record = KYCRecord.objects.create(merchant=merchant, reference="alice")
    transfer = TransferRequest.objects.create(
        merchant=merchant, account=account, provider="corepass", reference="alice", record=record
    )
    cert = Certificate.objects.create(
        merchant=merchant, record=record, provider="blockpass", slug="c", external_id="x1"
    )
    return {"transfer": transfer, "record": record, "certificate": cert, "account": account}


def client_for(merchant) -> APIClient:
    _, raw = services.api_key_create(merchant=merchant, name="k")
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return c


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind,url",
    [
        ("transfer", "/api/v1/transfers/"),
        ("record", "/api/v1/records/"),
        ("certificate", "/api/v1/certificates/"),
    ],
)
def test_it_hides_other_merchants_objects_in_the_api(
    a_objects, other_merchant, merchant, kind, url
) -> None:
    b = client_for(other_merchant)
    obj = a_objects[kind]
    assert b.get(f"{url}{obj.pk}/").status_code == 404
    listing = b.get(url).json()
    assert listing["results"] == []
    a = client_for(merchant)
    assert a.get(f"{url}{obj.pk}/").status_code == 200
    assert len(a.get(url).json()["results"]) == 1


@pytest.mark.django_db
def test_it_refuses_missing_and_revoked_keys(merchant, a_objects) -> None:
    missing = APIClient().get("/api/v1/transfers/")
    assert missing.status_code == 401 and "results" not in missing.json()
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    key, raw = services.api_key_create(merchant=merchant, name="k")
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    ok = c.get("/api/v1/transfers/")
    assert ok.status_code == 200
    assert [t["id"] for t in ok.json()["results"]] == [str(a_objects["transfer"].pk)]
    services.api_key_revoke(key=key)
    revoked = c.get("/api/v1/transfers/")
    assert revoked.status_code == 401 and "results" not in revoked.json()
    assert "revoked" in revoked.json()["detail"]


ADMIN_MODELS = ["transferrequest", "kycrecord", "certificate", "provideraccount"]


@pytest.mark.django_db
@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_it_hides_other_merchants_objects_in_the_admin(
    a_objects, other_merchant, client, model
) -> None:
    obj = {
        "transferrequest": a_objects["transfer"],
        "kycrecord": a_objects["record"],
        "certificate": a_objects["certificate"],
        "provideraccount": a_objects["account"],
    }[model]
    b_staff = factories.staff_user(other_merchant)
    client.force_login(b_staff)
    assert client.get(f"/admin/kyc/{model}/{obj.pk}/change/").status_code == 404
    listing = client.get(f"/admin/kyc/{model}/")
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 0


@pytest.mark.django_db
def test_it_scopes_admin_filters_and_autocomplete(
    a_objects, other_merchant, merchant, client
) -> None:
    b_staff = factories.staff_user(other_merchant)
    client.force_login(b_staff)
    page = client.get("/admin/kyc/transferrequest/").content.decode()
    assert merchant.name not in page
    auto = client.get(
        "/admin/autocomplete/",
        {"app_label": "kyc", "model_name": "membership", "field_name": "merchant", "term": ""},
    )
    names = [r["text"] for r in auto.json().get("results", [])] if auto.status_code == 200 else []
    assert merchant.name not in names


@pytest.mark.django_db
def test_it_shows_own_objects_to_staff(a_objects, merchant, other_merchant, client) -> None:
    transfer = a_objects["transfer"]
    client.force_login(factories.staff_user(merchant))
    page = client.get(f"/admin/kyc/transferrequest/{transfer.pk}/change/")
    assert page.status_code == 200
    assert page.context["original"] == transfer and str(transfer.pk) in page.content.decode()
    listing = client.get("/admin/kyc/transferrequest/")
    assert [o.pk for o in listing.context["cl"].result_list] == [transfer.pk]
    # control: the same pages for another merchant's staff show nothing of it
    client.force_login(factories.staff_user(other_merchant))
    assert client.get(f"/admin/kyc/transferrequest/{transfer.pk}/change/").status_code == 404
