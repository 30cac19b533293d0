"""A key can be reserved once: the database says so, and the message names the holder."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from providers.sunbird import services
from providers.sunbird.models import KeyReservation
from tests import factories


def _reserve(merchant: Any, key: str = "demo1", org: str = "0126876528934010882") -> Any:
    return services.key_reserve(
        merchant=merchant,
        root_org_id=org,
        root_org_name="Gujarat Council",
        key_id=key,
        purpose="sign",
        comment="first",
    )


@pytest.mark.django_db
def test_it_refuses_a_reserved_key_with_a_clear_message(merchant: Any) -> None:
    _reserve(merchant)

    with pytest.raises(services.KeyAlreadyReserved) as exc:
        _reserve(merchant, org="0128000000000000001")

    assert "“demo1” is already reserved for root org Gujarat Council" in exc.value.message
    assert "a key can be reserved once" in exc.value.message
    assert KeyReservation.objects.filter(key_id="demo1").count() == 1


@pytest.mark.django_db
def test_it_is_enforced_by_the_database(merchant: Any) -> None:
    _reserve(merchant)
    with pytest.raises(IntegrityError), transaction.atomic():
        KeyReservation.objects.create(
            merchant=merchant, root_org_id="x", key_id="demo1", purpose="enc"
        )


@pytest.mark.django_db
def test_it_lets_another_merchant_use_the_same_identifier(
    merchant: Any, other_merchant: Any
) -> None:
    _reserve(merchant)
    assert _reserve(other_merchant).merchant == other_merchant


@pytest.mark.django_db
def test_it_refuses_a_reserved_key_in_the_admin(merchant: Any, client: Any) -> None:
    user = factories.staff_user(merchant)
    client.force_login(user)
    _reserve(merchant)

    response = client.post(
        "/admin/kyc_sunbird/keyreservation/add/",
        {
            "merchant": merchant.pk,
            "root_org_id": "0128000000000000001",
            "root_org_name": "Demo",
            "key_id": "demo1",
            "purpose": "enc",
            "comment": "",
        },
    )

    assert response.status_code == 200
    assert "is already reserved for root org Gujarat Council" in response.content.decode()
    assert KeyReservation.objects.count() == 1
    ok = client.post(
        "/admin/kyc_sunbird/keyreservation/add/",
        {"merchant": merchant.pk, "root_org_id": "o", "key_id": "demo2", "purpose": "enc"},
    )
    assert ok.status_code == 302
    assert KeyReservation.objects.get(key_id="demo2").added_by == user


@pytest.mark.django_db
def test_it_refuses_to_start_a_run_with_a_reserved_key(merchant: Any) -> None:
    from kyc.errors import InvalidInput
    from kyc.models import ProviderAccount
    from tests.sunbird.conftest import make_run

    ProviderAccount.objects.create(
        merchant=merchant, provider="sunbird", settings={"base_url": "http://sb.invalid"}
    )
    _reserve(merchant, key="sign-b1")
    with pytest.raises(InvalidInput, match="already reserved"):
        make_run(merchant, batch_id="b1")


@pytest.mark.django_db(transaction=True)
def test_it_lets_staff_watch_and_resume_runs_in_the_admin(
    merchant: Any, other_merchant: Any, client: Any
) -> None:
    from unittest import mock

    from kyc.models import ProviderAccount
    from providers.sunbird.models import IssuanceRun
    from tests.sunbird.conftest import make_run

    for m in (merchant, other_merchant):
        ProviderAccount.objects.create(
            merchant=m, provider="sunbird", settings={"base_url": "http://sb.invalid"}
        )
    mine, theirs = make_run(merchant, batch_id="m1"), make_run(other_merchant, batch_id="o1")
    services._fail(run_id=mine.pk, name="find_root_org", error="boom")
    client.force_login(factories.staff_user(merchant))

    listing = client.get("/admin/kyc_sunbird/issuancerun/").content.decode()
    assert "m1" in listing and "o1" not in listing
    assert client.get(f"/admin/kyc_sunbird/issuancerun/{theirs.pk}/change/").status_code == 404
    page = client.get(f"/admin/kyc_sunbird/issuancerun/{mine.pk}/change/").content.decode()
    assert "find_root_org" in page and "boom" in page
    with mock.patch("providers.sunbird.tasks.enqueue_step") as enqueue:
        client.post(
            "/admin/kyc_sunbird/issuancerun/",
            {"action": "resume", "_selected_action": [mine.pk, theirs.pk]},
        )
    assert IssuanceRun.objects.get(pk=mine.pk).status == "running"
    assert enqueue.call_count == 1  # the other merchant's run is not even selectable
