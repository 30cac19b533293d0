"""Writes of the Sunbird issuance flow: key reservations and runs carried out step by step.

A run is six steps in order (models.STEP_NAMES). Each step is executed by
`step_execute`, which is safe to call twice:

- a step already DONE is skipped, so a redelivered task never assigns keys or issues
  a second time (re-issuing happens only when the run has `reissue` set, and then
  once, in the issue step);
- a step found RUNNING when a task starts was interrupted (worker killed mid-call):
  assign_keys then asks Sunbird which keys the org has before assigning again;
- the issue call has no idempotency key, so it is never sent twice blindly: a call whose
  outcome is unknown (timeout, reset after sending, 5xx, worker killed after sending)
  leaves the step UNKNOWN, and later executions only ask the registry whether this
  run's certificates (created after the call was sent) appeared. It is sent again only
  after a definite refusal the registry confirms, or when staff choose to
  (`run_issue_resubmit`, audited);
- only the task carrying the run's current `chain_token` advances it; `run_resume`
  (retry button, reconcile) rotates the token so a late redelivery does nothing.

Certificates are read page by page from the registry and written with one
bulk_create per page (ignore_conflicts on the unique certificate key), so memory
stays flat whatever the batch size.

One module per part:

- common: timings, limits, the errors a step raises, what a step returns
- keys: key reservations
- runs: runs created, resumed, resent by staff, executed inline; reconcile
- execute: one step executed (`step_execute`) and the table of steps
- session: the merchant's Sunbird account and a run's cached user token
- setup_steps: find the root org, reserve and assign keys, attach the template
- issue: the issue call and what the registry says of an unknown outcome
- collect: certificates read page by page and stored

Callers use this package (`services.<name>`).
"""

from __future__ import annotations

from providers.sunbird.services.collect import (
    certificates_store as certificates_store,
)
from providers.sunbird.services.common import (
    MAX_AUTO_RETRIES as MAX_AUTO_RETRIES,
)
from providers.sunbird.services.common import (
    MAX_PAGES_PER_ROUND as MAX_PAGES_PER_ROUND,
)
from providers.sunbird.services.common import (
    PROVIDER as PROVIDER,
)
from providers.sunbird.services.common import (
    IssueOutcomeUnknown as IssueOutcomeUnknown,
)
from providers.sunbird.services.common import (
    KeyAlreadyReserved as KeyAlreadyReserved,
)
from providers.sunbird.services.common import (
    Outcome as Outcome,
)
from providers.sunbird.services.common import (
    StepFailed as StepFailed,
)
from providers.sunbird.services.common import (
    StepResult as StepResult,
)
from providers.sunbird.services.common import (
    clock_skew as clock_skew,
)
from providers.sunbird.services.common import (
    collect_timeout as collect_timeout,
)
from providers.sunbird.services.common import (
    issue_read_timeout as issue_read_timeout,
)
from providers.sunbird.services.common import (
    issue_verify_window as issue_verify_window,
)
from providers.sunbird.services.common import (
    poll_seconds as poll_seconds,
)
from providers.sunbird.services.common import (
    quiet_period as quiet_period,
)
from providers.sunbird.services.common import (
    stale_seconds as stale_seconds,
)
from providers.sunbird.services.execute import (
    STEPS as STEPS,
)
from providers.sunbird.services.execute import (
    _fail as _fail,
)
from providers.sunbird.services.execute import (
    _finish as _finish,
)
from providers.sunbird.services.execute import (
    step_execute as step_execute,
)
from providers.sunbird.services.issue import (
    NEWEST_CHECKED as NEWEST_CHECKED,
)
from providers.sunbird.services.issue import (
    _nothing_sent as _nothing_sent,
)
from providers.sunbird.services.keys import (
    key_reserve as key_reserve,
)
from providers.sunbird.services.keys import (
    keys_taken as keys_taken,
)
from providers.sunbird.services.runs import (
    reconcile as reconcile,
)
from providers.sunbird.services.runs import (
    root_orgs_list as root_orgs_list,
)
from providers.sunbird.services.runs import (
    run_create as run_create,
)
from providers.sunbird.services.runs import (
    run_execute_inline as run_execute_inline,
)
from providers.sunbird.services.runs import (
    run_issue_resubmit as run_issue_resubmit,
)
from providers.sunbird.services.runs import (
    run_resume as run_resume,
)
from providers.sunbird.services.session import (
    _Session as _Session,
)
from providers.sunbird.services.session import (
    account_for as account_for,
)
from providers.sunbird.services.setup_steps import (
    cert_template as cert_template,
)
