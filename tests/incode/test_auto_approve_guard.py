"""Auto-approve is the portal's decision, not the sandbox's: with a failing score the
portal never asks Incode to approve, even when Incode would say yes."""

from __future__ import annotations

from typing import Any
from unittest import mock

from kyc.status import Status
from providers.incode import client, schemas
from tests.conftest import wait_for
from tests.incode.conftest import decided, finish_on_phone, sandbox_interview, start_request


def test_it_never_calls_approve_for_a_failing_score(
    api: Any, account: Any, sandbox: str, eager: None
) -> None:
    assert account.settings["auto_approve"] is True
    # An Incode that approves anything (unlike the sandbox, which refuses a failed
    # session): only the portal's own score check can keep the call from happening.
    yes = schemas.Approval(success=True, uuid="u-1", total_score="OK")
    with mock.patch.object(client, "process_approve", return_value=yes) as approve:
        t = start_request(api, "c-1")
        finish_on_phone(t.deep_link, "fail")
        assert wait_for(lambda: decided(t)) == Status.REVIEW
    approve.assert_not_called()
    assert "Score not OK" in t.status_detail and "FAIL" in t.status_detail
    assert t.provider_data["score"]["overall_status"] == "FAIL"
    assert "identity_uuid" not in (t.provider_secrets or {})
    assert sandbox_interview(sandbox, t.provider_ref)["approved"] is False


def test_it_calls_approve_once_for_a_passing_score(
    api: Any, account: Any, sandbox: str, eager: None
) -> None:
    """The control: the same set-up with a passing score does call approve, at Incode."""
    with mock.patch.object(client, "process_approve", wraps=client.process_approve) as approve:
        t = start_request(api, "c-1")
        finish_on_phone(t.deep_link, "pass")
        assert wait_for(lambda: decided(t)) == Status.COMPLETED
    assert approve.call_count == 1
    assert approve.call_args.kwargs["interview_id"] == t.provider_ref
    assert sandbox_interview(sandbox, t.provider_ref)["approved"] is True
