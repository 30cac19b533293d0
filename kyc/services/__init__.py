"""Every write to the domain goes through a function here: `<entity>_<action>(*, ...)`.

Views, the API, forms and tasks parse input, call one of these, and render.
Each provider's own writes live in providers/<name>/services.py and build on these.

One module per entity: audit, keys, accounts, records, transfers, inbox, promises,
pii (access and erasure). Every name is re-exported here, so callers keep writing
`from kyc import services; services.<name>`."""

from __future__ import annotations

from kyc import metrics, outbox, registry, review, selectors
from kyc.audit import audit_write
from kyc.contract import FieldValue, Provider, StartRequest, StartResult, StatusUpdate
from kyc.crypto import lookup_hash
from kyc.errors import AuthenticationError, InvalidInput, ProviderError
from kyc.models import (
    ApiKey,
    AuditEntry,
    Certificate,
    CertPromise,
    IdempotentRequest,
    IdentityField,
    InboundEvent,
    KYCRecord,
    Merchant,
    ProviderAccount,
    TransferEvent,
    TransferRequest,
    default_api_key_scopes,
)
from kyc.qr import render_svg
from kyc.selectors import transfer_page_url
from kyc.services.accounts import (
    account_auth_failed,
    provider_account_get_or_create,
    provider_account_set_state,
    provider_account_update,
)
from kyc.services.audit import audit_log
from kyc.services.inbox import inbound_mark, inbound_store
from kyc.services.keys import api_key_create, api_key_pii_read_audit, api_key_revoke, api_key_touch
from kyc.services.pii import (
    IDEMPOTENCY_WINDOW,
    idempotent_requests_purge,
    pii_reveal,
    record_erase,
    retention_erase_expired,
)
from kyc.services.promises import cert_promise_retry
from kyc.services.records import identity_fields_store, record_get_or_create
from kyc.services.transfers import (
    TransferNotCancellable,
    TransferStart,
    transfer_apply,
    transfer_cancel,
    transfer_create,
    transfer_expire_overdue,
    transfer_fail,
    transfer_review,
)
from kyc.status import TERMINAL, Status, can_move

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuthenticationError",
    "CertPromise",
    "Certificate",
    "FieldValue",
    "IDEMPOTENCY_WINDOW",
    "IdempotentRequest",
    "IdentityField",
    "InboundEvent",
    "InvalidInput",
    "KYCRecord",
    "Merchant",
    "Provider",
    "ProviderAccount",
    "ProviderError",
    "StartRequest",
    "StartResult",
    "Status",
    "StatusUpdate",
    "TERMINAL",
    "TransferEvent",
    "TransferNotCancellable",
    "TransferRequest",
    "TransferStart",
    "account_auth_failed",
    "api_key_create",
    "api_key_pii_read_audit",
    "api_key_revoke",
    "api_key_touch",
    "audit_log",
    "audit_write",
    "can_move",
    "cert_promise_retry",
    "default_api_key_scopes",
    "idempotent_requests_purge",
    "identity_fields_store",
    "inbound_mark",
    "inbound_store",
    "lookup_hash",
    "metrics",
    "outbox",
    "pii_reveal",
    "provider_account_get_or_create",
    "provider_account_set_state",
    "provider_account_update",
    "record_erase",
    "record_get_or_create",
    "registry",
    "render_svg",
    "retention_erase_expired",
    "review",
    "selectors",
    "transfer_apply",
    "transfer_cancel",
    "transfer_create",
    "transfer_expire_overdue",
    "transfer_fail",
    "transfer_page_url",
    "transfer_review",
]
