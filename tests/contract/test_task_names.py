"""Celery task names are part of the contract with the broker and the beat schedule:
a task queued before a deploy (or named in CELERY_BEAT_SCHEDULE) must still find its
function after a provider's code moves. Names are pinned with name=, so a move never
renames them."""

from __future__ import annotations

from django.conf import settings

from portal.celery import app

# Every provider task as queued today (the names the broker and beat hold).
PINNED = {
    "kyc.flows.blockpass.tasks.pull_cert_promise",
    "kyc.flows.corepass.tasks.check_transfer",
    "kyc.flows.corepass.tasks.confirm_data",
    "kyc.flows.incode.tasks.approve_at_incode",
    "kyc.flows.incode.tasks.check_transfer",
    "kyc.flows.incode.tasks.check_transfer_by_page_token",
    "kyc.flows.incode.tasks.delete_interview",
    "kyc.flows.incode.tasks.refresh_admin_tokens",
    "kyc.flows.portmone.tasks.check_transfer",
    "kyc.flows.portmone.tasks.check_transfer_by_page_token",
    "kyc.flows.portmone.tasks.poll_transfer",
    "kyc.flows.sunbird.tasks.step_assign_keys",
    "kyc.flows.sunbird.tasks.step_attach_template",
    "kyc.flows.sunbird.tasks.step_collect",
    "kyc.flows.sunbird.tasks.step_find_root_org",
    "kyc.flows.sunbird.tasks.step_issue",
    "kyc.flows.sunbird.tasks.step_reserve_keys",
}


def _registered() -> set[str]:
    app.loader.import_default_modules()  # autodiscovery, as a worker does at start
    return set(app.tasks)


def test_it_keeps_every_provider_task_name() -> None:
    registered = _registered()
    assert PINNED <= registered, sorted(PINNED - registered)


def test_it_finds_every_beat_task() -> None:
    registered = _registered()
    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert beat <= registered, sorted(beat - registered)
