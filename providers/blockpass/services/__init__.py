"""Blockpass flow: webhook deliveries, certificate-promise pulls, the merchant endpoints the
Blockpass app calls, record tokens, and the review status the app is told.

Writes follow `<entity>_<action>(*, ...)`; they build on kyc.services. One module per part:

- common: the provider name, the token's place in a record, the upload session's salt, the log
- accounts: which account a webhook delivery is for
- tokens: a record's Blockpass token, stored and renewed
- review_status: a record's review status and the app's `/status` answer
- references: the references the portal gives records itself, and their erasure
- merchant: the endpoints the Blockpass app calls (register, login, status, resubmit, upload)
- webhook: deliveries checked, stored and applied; the hand-offs to a worker
- pull: certificate-promise pulls and the every-minute reconcile

Callers use this package (`services.<name>`). The hand-offs to a worker (`_enqueue_process`,
`_enqueue_pull`) and `service_info_update` are looked up here when called, so replacing
them on this package replaces them for every part.
"""

from __future__ import annotations

from providers.blockpass.services.accounts import (
    account_for_webhook_token as account_for_webhook_token,
)
from providers.blockpass.services.common import (
    PROVIDER as PROVIDER,
)
from providers.blockpass.services.common import (
    SECRETS_KEY as SECRETS_KEY,
)
from providers.blockpass.services.common import (
    SESSION_MAX_AGE as SESSION_MAX_AGE,
)
from providers.blockpass.services.common import (
    SESSION_SALT as SESSION_SALT,
)
from providers.blockpass.services.merchant import (
    CERT_PREFIX as CERT_PREFIX,
)
from providers.blockpass.services.merchant import (
    PROMISE_PREFIX as PROMISE_PREFIX,
)
from providers.blockpass.services.merchant import (
    Handshake as Handshake,
)
from providers.blockpass.services.merchant import (
    Upload as Upload,
)
from providers.blockpass.services.merchant import (
    UploadedFile as UploadedFile,
)
from providers.blockpass.services.merchant import (
    _session_token as _session_token,
)
from providers.blockpass.services.merchant import (
    cert_promise_note as cert_promise_note,
)
from providers.blockpass.services.merchant import (
    merchant_login as merchant_login,
)
from providers.blockpass.services.merchant import (
    merchant_register as merchant_register,
)
from providers.blockpass.services.merchant import (
    merchant_resubmit as merchant_resubmit,
)
from providers.blockpass.services.merchant import (
    merchant_status as merchant_status,
)
from providers.blockpass.services.merchant import (
    merchant_upload as merchant_upload,
)
from providers.blockpass.services.merchant import (
    record_for_blockpass_id as record_for_blockpass_id,
)
from providers.blockpass.services.merchant import (
    record_register as record_register,
)
from providers.blockpass.services.pull import (
    PULL_BACKOFF_CAP as PULL_BACKOFF_CAP,
)
from providers.blockpass.services.pull import (
    PULL_LEASE as PULL_LEASE,
)
from providers.blockpass.services.pull import (
    PULL_MAX_ATTEMPTS as PULL_MAX_ATTEMPTS,
)
from providers.blockpass.services.pull import (
    PullOutcome as PullOutcome,
)
from providers.blockpass.services.pull import (
    cert_promise_claim as cert_promise_claim,
)
from providers.blockpass.services.pull import (
    cert_promise_pull as cert_promise_pull,
)
from providers.blockpass.services.pull import (
    cert_promise_store as cert_promise_store,
)
from providers.blockpass.services.pull import (
    reconcile as reconcile,
)
from providers.blockpass.services.references import (
    OPAQUE_REFERENCE_PREFIX as OPAQUE_REFERENCE_PREFIX,
)
from providers.blockpass.services.references import (
    RESERVED_REFERENCE_PREFIX as RESERVED_REFERENCE_PREFIX,
)
from providers.blockpass.services.references import (
    erased_references_forget as erased_references_forget,
)
from providers.blockpass.services.references import (
    opaque_reference as opaque_reference,
)
from providers.blockpass.services.references import (
    record_reference_forget as record_reference_forget,
)
from providers.blockpass.services.references import (
    reference_from_ref_id as reference_from_ref_id,
)
from providers.blockpass.services.references import (
    reference_names_identity as reference_names_identity,
)
from providers.blockpass.services.review_status import (
    record_review_recompute as record_review_recompute,
)
from providers.blockpass.services.review_status import (
    record_review_recompute_by_id as record_review_recompute_by_id,
)
from providers.blockpass.services.review_status import (
    review_status_for as review_status_for,
)
from providers.blockpass.services.review_status import (
    status_payload as status_payload,
)
from providers.blockpass.services.tokens import (
    call_with_token as call_with_token,
)
from providers.blockpass.services.tokens import (
    record_token as record_token,
)
from providers.blockpass.services.tokens import (
    record_token_store as record_token_store,
)
from providers.blockpass.services.webhook import (
    _dedupe_key as _dedupe_key,
)
from providers.blockpass.services.webhook import (
    _enqueue_process as _enqueue_process,
)
from providers.blockpass.services.webhook import (
    _enqueue_pull as _enqueue_pull,
)
from providers.blockpass.services.webhook import (
    cert_promise_resolve as cert_promise_resolve,
)
from providers.blockpass.services.webhook import (
    enqueue_process as enqueue_process,
)
from providers.blockpass.services.webhook import (
    inbound_process as inbound_process,
)
from providers.blockpass.services.webhook import (
    service_info_update as service_info_update,
)
from providers.blockpass.services.webhook import (
    webhook_check as webhook_check,
)
from providers.blockpass.services.webhook import (
    webhook_duplicate as webhook_duplicate,
)
