"""Merchant pages: start a run, watch it (polled fragment), retry a failed step; settings."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from providers.sunbird import services
from providers.sunbird.models import IssuanceRun, IssuanceStep
from tests.sunbird.conftest import ROOT_ORG, make_run

pytestmark = pytest.mark.django_db(transaction=True)

FORM = {
    "root_org_id": ROOT_ORG,
    "course_id": "do_1",
    "batch_id": "batch-5",
    "certificate_name": "100PercentCompletionCertificate",
    "sign_keys": "s1, s2",
    "enc_keys": "e1",
    "issuer_name": "GCERT",
    "issuer_url": "https://gcert.gujarat.gov.in/gcert/",
    "signatories": '[{"name": "CEO", "id": "CEO", "designation": "CEO"}]',
    "html_template_url": "https://example.org/certificate.zip",
    "notify_template": '{"subject": "Course completion certificate"}',
    "filters": '{"status": "2"}',
    "expected_count": "5",
}


@pytest.fixture
def no_enqueue() -> Any:
    with mock.patch("providers.sunbird.tasks.enqueue_step") as enqueue:
        yield enqueue


def test_it_starts_a_run_from_the_form(
    staff_client: Any, merchant: Any, account: Any, no_enqueue: Any
) -> None:
    page = staff_client.get("/issuance/new/").content.decode()
    assert "Gujarat Council of Educational Research and Training" in page  # from org search

    response = staff_client.post("/issuance/new/", FORM)

    run = IssuanceRun.objects.get(merchant=merchant)
    assert response.status_code == 302 and response["Location"] == f"/issuance/{run.pk}/"
    assert run.sign_keys == ["s1", "s2"] and run.enc_keys == ["e1"] and run.expected_count == 5
    assert run.steps.count() == 6
    no_enqueue.assert_called_once_with(run.pk, "find_root_org", run.chain_token, 0)


def test_it_shows_a_clear_message_for_a_reserved_key(
    staff_client: Any, merchant: Any, account: Any, no_enqueue: Any
) -> None:
    services.key_reserve(
        merchant=merchant, root_org_id="o1", root_org_name="Other org", key_id="s2", purpose="sign"
    )
    response = staff_client.post("/issuance/new/", FORM)
    assert response.status_code == 200
    assert "“s2” is already reserved for root org Other org" in response.content.decode()
    assert not IssuanceRun.objects.exists()


def test_it_shows_steps_and_progress_and_stops_polling_when_done(
    staff_client: Any, merchant: Any, account: Any, sandbox: Any
) -> None:
    sandbox.batch("batch-5", learners=5, delay=0, rate=0)
    run = make_run(merchant, batch_id="batch-5", expected_count=5)
    running = staff_client.get(f"/issuance/{run.pk}/progress")
    assert running.status_code == 200 and 'value="0"' in running.content.decode()
    detail = staff_client.get(f"/issuance/{run.pk}/").content.decode()
    assert 'hx-get="/issuance/' in detail and "find root org" in detail

    services.run_execute_inline(run.pk, max_seconds=10)

    done = staff_client.get(f"/issuance/{run.pk}/progress")
    body = done.content.decode()
    assert done.status_code == 286
    assert 'value="100"' in body and "/api/org/v1/assign/key" in body and "SUCCESS" in body
    assert "Gujarat Council of Educational Research and Training" in body  # confirmed root org
    assert "hx-get" not in staff_client.get(f"/issuance/{run.pk}/").content.decode()
    assert f"/issuance/{run.pk}/" in staff_client.get("/issuance/").content.decode()


def test_it_retries_a_failed_step_from_the_page(
    staff_client: Any, merchant: Any, account: Any, no_enqueue: Any
) -> None:
    run = make_run(merchant)
    services._fail(run_id=run.pk, name="find_root_org", error="provider_unavailable: boom")
    page = staff_client.get(f"/issuance/{run.pk}/").content.decode()
    assert "boom" in page and 'id="retry"' in page

    response = staff_client.post(f"/issuance/{run.pk}/retry")

    run.refresh_from_db()
    assert response.status_code == 302
    assert run.status == IssuanceRun.Status.RUNNING
    assert run.steps.get(name="find_root_org").status == IssuanceStep.Status.PENDING
    no_enqueue.assert_called_once_with(run.pk, "find_root_org", run.chain_token, 0)


def test_it_hides_other_merchants_runs(
    staff_client: Any, other_merchant: Any, no_enqueue: Any
) -> None:
    from kyc.models import ProviderAccount

    ProviderAccount.objects.create(
        merchant=other_merchant, provider="sunbird", settings={"base_url": "http://x.invalid"}
    )
    run = make_run(other_merchant)
    services._fail(run_id=run.pk, name="find_root_org", error="provider_unavailable: boom")
    assert staff_client.get(f"/issuance/{run.pk}/").status_code == 404
    assert staff_client.get(f"/issuance/{run.pk}/progress").status_code == 404
    assert staff_client.post(f"/issuance/{run.pk}/retry").status_code == 404
    assert f"/issuance/{run.pk}/" not in staff_client.get("/issuance/").content.decode()
    run.refresh_from_db()
    assert run.status == IssuanceRun.Status.FAILED  # the retry did nothing
    no_enqueue.assert_not_called()
    # control: the run's own merchant sees it and can retry it on the same routes
    from tests import factories

    staff_client.force_login(factories.staff_user(other_merchant))
    page = staff_client.get(f"/issuance/{run.pk}/")
    assert page.status_code == 200 and "boom" in page.content.decode()
    assert f"/issuance/{run.pk}/" in staff_client.get("/issuance/").content.decode()
    assert staff_client.post(f"/issuance/{run.pk}/retry").status_code == 302
    no_enqueue.assert_called_once()


def test_it_offers_every_endpoint_path_on_the_settings_page(staff_client: Any) -> None:
    page = staff_client.get("/providers/sunbird/").content.decode()
    for seed_path in (
        "/api/org/v1/search",
        "/api/org/v1/assign/key",
        "/action/system/v3/content/update/{course_id}",
        "/api/course/batch/cert/v1/issue",
        "/auth/realms/{realm}/protocol/openid-connect/token",
    ):
        assert seed_path in page
    assert "/v1/course/batch/cert/template/add" in page  # current Sunbird, as the alternative
