"""Key reservation is resumable: a run reserving its own key again gets the same
reservation back, so a worker that died after the first key does not wedge the run."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import AuditEntry
from providers.sunbird import services
from providers.sunbird.models import IssuanceRun, IssuanceStep, KeyReservation
from tests.sunbird.conftest import ROOT_ORG, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def account(merchant: Any) -> Any:
    """Sunbird configured (reserving keys never calls it: no server needed)."""
    from kyc.models import ProviderAccount

    return ProviderAccount.objects.create(
        merchant=merchant, provider="sunbird", settings={"base_url": "http://x.invalid"}
    )


def _reserve(run: IssuanceRun, key_id: str, purpose: str, merchant: Any = None) -> Any:
    return services.key_reserve(
        merchant=merchant or run.merchant,
        root_org_id=ROOT_ORG,
        root_org_name="Gujarat Council",
        key_id=key_id,
        purpose=purpose,
        run=run,
    )


def test_it_returns_the_same_reservation_to_the_same_run_and_purpose(merchant: Any) -> None:
    run = make_run(merchant, sign_keys=["s1"], enc_keys=["e1"])
    first = _reserve(run, "s1", "sign")
    again = _reserve(run, " s1 ", "sign")
    assert again.pk == first.pk and again.run_id == run.pk
    assert KeyReservation.objects.filter(merchant=merchant, key_id="s1").count() == 1
    assert AuditEntry.objects.filter(action="sunbird.key_reserved").count() == 1
    # ... but not for another purpose, nor to another run: the key stays reserved once
    with pytest.raises(services.KeyAlreadyReserved):
        _reserve(run, "s1", "enc")
    other = make_run(merchant, batch_id="batch-other", sign_keys=["s9"], enc_keys=["e9"])
    with pytest.raises(services.KeyAlreadyReserved):
        _reserve(other, "s1", "sign")
    with pytest.raises(services.KeyAlreadyReserved):
        services.key_reserve(
            merchant=merchant, root_org_id=ROOT_ORG, root_org_name="", key_id="s1", purpose="sign"
        )


def test_it_resumes_a_run_interrupted_after_its_first_key(merchant: Any) -> None:
    run = make_run(merchant, sign_keys=["s1", "s2"], enc_keys=["e1"])
    IssuanceStep.objects.filter(run=run, name="find_root_org").update(
        status=IssuanceStep.Status.DONE
    )
    IssuanceRun.objects.filter(pk=run.pk).update(
        root_org_name="Gujarat Council", current_step="reserve_keys"
    )
    run.refresh_from_db()
    # The worker reserved the first key, then died before recording anything else.
    first = _reserve(run, "s1", "sign")
    IssuanceStep.objects.filter(run=run, name="reserve_keys").update(
        status=IssuanceStep.Status.RUNNING, attempts=1
    )

    outcome = services.step_execute(run_id=run.pk, name="reserve_keys", token=run.chain_token)

    step = IssuanceStep.objects.get(run=run, name="reserve_keys")
    assert step.status == IssuanceStep.Status.DONE, step.error
    assert step.answer_summary == {"reserved": 3} and step.attempts == 2
    assert outcome.next_step == "assign_keys"
    run.refresh_from_db()
    assert run.status == IssuanceRun.Status.RUNNING and run.current_step == "assign_keys"
    keys = dict(KeyReservation.objects.filter(run=run).values_list("key_id", "purpose"))
    assert keys == {"s1": "sign", "s2": "sign", "e1": "enc"}
    assert KeyReservation.objects.get(key_id="s1").pk == first.pk
