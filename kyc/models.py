"""The domain. Every value that is PII or a provider secret sits in an Encrypted* field."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP

from kyc.crypto import EncryptedBytesField, EncryptedJSONField, EncryptedTextField
from kyc.registry import model_choices as provider_choices
from kyc.status import Status


def new_token() -> str:
    """An unguessable URL token (192 bits)."""
    return secrets.token_urlsafe(24)


class Merchant(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    retention_days = models.PositiveIntegerField(
        default=365, help_text="PII older than this is erased by the daily retention task."
    )
    created_at = models.DateTimeField(default=timezone.now)

    # What the customer's page shows of the merchant (issue: the customer's page).
    # The logo is kept in the database (small, served by the portal) so a deployment
    # needs no media volume.
    logo = models.BinaryField(null=True, blank=True, editable=True)
    logo_type = models.CharField(max_length=40, blank=True)
    brand_color = models.CharField(
        max_length=7, default="#1f4fd1", help_text="Hex colour, e.g. #1f4fd1."
    )
    support_contact = models.CharField(
        max_length=200, blank=True, help_text="Email or URL the customer can reach you at."
    )
    privacy_url = models.URLField(max_length=500, blank=True)
    restart_url = models.URLField(
        max_length=500, blank=True, help_text="Where a customer starts again after an expired link."
    )
    default_language = models.CharField(
        max_length=8,
        choices=[("en", "English"), ("uk", "Українська"), ("de", "Deutsch")],
        default="en",
    )
    # Compliance: how long a review may wait before it shows as late.
    review_sla_hours = models.PositiveIntegerField(default=24)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Administrator"
        COMPLIANCE = "compliance", "Compliance reviewer"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "merchant"], name="one_membership_per_merchant")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant} ({self.role})"


def default_api_key_scopes() -> list[str]:
    """What a key may do unless its creator chose otherwise: no decrypted PII."""
    return [ApiKey.Scope.READ.value, ApiKey.Scope.WRITE.value]


class ApiKey(models.Model):
    """Stored as a SHA-256 hash; the key itself is shown once when created."""

    class Scope(models.TextChoices):
        READ = "read", "Read requests, records and certificates (identity values masked)"
        WRITE = "write", "Start verifications"
        PII = "pii", "Read decrypted identity values (each read is audited)"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Visible part of the key.")
    hashed = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A list of Scope values. A list, not three booleans, so a new scope needs no migration.
    scopes = models.JSONField(
        default=default_api_key_scopes,
        blank=True,
        help_text="What the key may do: read, write, pii (decrypted identity values).",
    )

    class Meta:
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    @staticmethod
    def missing_scope_message(scope: str) -> str:
        """The 403 text (REST API and the Incode token-server endpoints alike)."""
        return (
            f"This API key lacks the '{scope}' scope this request needs; "
            "an owner or administrator can create a key with it on the API keys page."
        )


class ProviderAccount(models.Model):
    """A merchant's account at one provider."""

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="provider_accounts"
    )
    provider = models.CharField(max_length=20, choices=provider_choices)
    enabled = models.BooleanField(default=False)
    settings = EncryptedJSONField(default=dict, blank=True)
    # What the portal learns while running: cached tokens, expiries, last refresh error.
    state = EncryptedJSONField(default=dict, blank=True)
    webhook_token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "provider"], name="one_account_per_provider"
            )
        ]

    def __str__(self) -> str:
        return f"{self.merchant} / {self.get_provider_display()}"


class KYCRecord(models.Model):
    """One end customer of one merchant, and what providers sent about them."""

    class Review(models.TextChoices):
        NOT_FOUND = "notFound", "No data yet"
        WAITING = "waiting", "Waiting for data"
        IN_REVIEW = "inreview", "In review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        RESUBMIT = "resubmit", "Asked to resubmit"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="records")
    reference = models.CharField(max_length=200, help_text="The merchant's own reference.")
    provider = models.CharField(max_length=20, choices=provider_choices, blank=True)
    # The provider's id of the customer (blockpassID, CoreID, interview id): an identifier,
    # so kept encrypted; `external_key` is its keyed hash for lookups.
    external_id = EncryptedTextField(blank=True, default="")
    external_key = models.CharField(max_length=64, blank=True, db_index=True)
    review_status = models.CharField(
        max_length=20, choices=Review.choices, default=Review.NOT_FOUND
    )
    review_comment = models.TextField(blank=True)
    # The review queue: since when it waits, who took it, the customer-visible reason.
    review_since = models.DateTimeField(null=True, blank=True, db_index=True)
    review_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_reviews",
    )
    review_reason = models.CharField(max_length=40, blank=True)
    secrets = EncryptedJSONField(default=dict, blank=True)  # per-record provider tokens
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "reference"], name="unique_record_reference"
            )
        ]
        indexes = [models.Index(fields=["merchant", "-created_at"])]
        permissions = [("reveal_pii", "Can reveal personal data")]
        verbose_name = "KYC record"
        verbose_name_plural = "KYC records"

    def __str__(self) -> str:
        return f"{self.reference}"


class ReviewState(models.TextChoices):
    RECEIVED = "received", "Received"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    MISSING = "missing", "Missing"


class IdentityField(models.Model):
    """One verified item (e.g. SH_Passport_DOB, email) of a record."""

    record = models.ForeignKey(KYCRecord, on_delete=models.CASCADE, related_name="fields")
    provider = models.CharField(max_length=20, choices=provider_choices)
    key = models.CharField(max_length=100)
    value = EncryptedTextField(null=True, blank=True)
    pepper = EncryptedTextField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=ReviewState.choices, default=ReviewState.RECEIVED
    )
    comment = models.TextField(blank=True)
    allow_resubmit = models.BooleanField(default=False)
    transfer = models.ForeignKey(
        "TransferRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="fields"
    )
    received_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record", "provider", "key"], name="one_value_per_field"
            )
        ]

    def __str__(self) -> str:
        return self.key


class CertPromise(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be pulled"
        PULLED = "pulled", "Pulled"
        GONE = "gone", "Consumed or gone at the provider"
        FAILED = "failed", "Failed"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="cert_promises")
    record = models.ForeignKey(
        KYCRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="cert_promises"
    )
    provider = models.CharField(max_length=20, choices=provider_choices, default="blockpass")
    promise_id = models.CharField(max_length=200)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "provider", "promise_id"], name="unique_cert_promise"
            )
        ]
        verbose_name = "certificate promise"

    def __str__(self) -> str:
        return self.promise_id


class Certificate(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="certificates")
    record = models.ForeignKey(
        KYCRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="certificates"
    )
    promise = models.OneToOneField(
        CertPromise, null=True, blank=True, on_delete=models.SET_NULL, related_name="certificate"
    )
    provider = models.CharField(max_length=20, choices=provider_choices)
    slug = models.CharField(
        max_length=200,
        help_text="Kind of certificate (e.g. onfido-service-cert, course certificate name).",
    )
    external_id = models.CharField(
        max_length=200, help_text="Provider's id (promise id, certificate id)."
    )
    raw = EncryptedBytesField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=ReviewState.choices, default=ReviewState.RECEIVED
    )
    comment = models.TextField(blank=True)
    allow_resubmit = models.BooleanField(default=False)
    # Issued certificates (Sunbird): who and for what.
    recipient_id = models.CharField(max_length=200, blank=True)
    recipient_name = EncryptedTextField(blank=True, default="")
    course_id = models.CharField(max_length=200, blank=True)
    batch_id = models.CharField(max_length=200, blank=True)
    download_url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "provider", "external_id"], name="unique_certificate"
            )
        ]
        indexes = [models.Index(fields=["merchant", "batch_id"])]

    def __str__(self) -> str:
        return f"{self.slug} {self.external_id}"


class TransferRequest(models.Model):
    """One ask to one customer through one provider."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="transfers")
    account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT, related_name="transfers")
    provider = models.CharField(max_length=20, choices=provider_choices)
    record = models.ForeignKey(
        KYCRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="transfers"
    )
    reference = models.CharField(max_length=200)
    subject = EncryptedTextField(blank=True, default="", help_text="Who is asked (e.g. a CoreID).")
    items = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.CREATED, db_index=True
    )
    provider_status = models.CharField(max_length=40, blank=True)
    provider_rank = models.IntegerField(default=0)
    failure_code = models.CharField(max_length=60, blank=True)
    status_detail = models.TextField(
        blank=True, help_text="Plain-language reason, shown to merchant and customer."
    )
    page_token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    callback_token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    provider_ref = models.CharField(max_length=200, blank=True, db_index=True)
    provider_data = models.JSONField(default=dict, blank=True)
    provider_secrets = EncryptedJSONField(default=dict, blank=True)
    qr_payload = EncryptedTextField(blank=True, default="")
    qr_svg = models.TextField(blank=True, help_text="Rendered once, reused by every page view.")
    deep_link = EncryptedTextField(blank=True, default="")
    redirect_url = models.URLField(max_length=1000, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_heard_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time the provider told us anything."
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    # First time the customer opened the page (the dashboard's funnel).
    opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["merchant", "-created_at"]),
            models.Index(fields=["status", "last_heard_at"]),
            # The merchant dashboard's charts read only these columns: answered from the
            # index alone, whatever the width of the rows.
            models.Index(
                fields=[
                    "merchant",
                    "created_at",
                    "status",
                    "provider",
                    "opened_at",
                    "completed_at",
                ],
                name="transfer_dashboard_idx",
            ),
            # The funnel's "ended after accepting" (failed, expired, cancelled) and the
            # median's completed requests: a range per status, answered from the index
            # alone, with the id its semi-join with the timeline needs.
            models.Index(
                fields=["merchant", "status", "created_at"],
                include=["provider", "opened_at", "completed_at", "id"],
                name="transfer_outcome_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.reference} ({self.status})"


class AppendOnlyError(Exception):
    pass


class TransferEvent(models.Model):
    """The history of a TransferRequest. Rows are only ever added."""

    transfer = models.ForeignKey(TransferRequest, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, default="status")  # status | data | error | note
    status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    provider_status = models.CharField(max_length=40, blank=True)
    tx_hash = models.CharField(max_length=100, blank=True)
    detail = models.TextField(blank=True)
    source = models.CharField(
        max_length=20, default="system"
    )  # api | callback | poll | staff | system
    inbound = models.ForeignKey("InboundEvent", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["transfer", "created_at"]),
            # The dashboard's funnel: which requests passed through acceptance.
            models.Index(
                fields=["transfer"],
                condition=models.Q(
                    status__in=["accepted", "processing", "review", "completed", "rejected"]
                ),
                name="event_accepted_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_status or self.status} at {self.created_at:%H:%M:%S}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyError("TransferEvent rows are append-only")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("TransferEvent rows are append-only")


class InboundEvent(models.Model):
    """Every delivery a provider sends, good or bad, stored before it is processed."""

    class State(models.TextChoices):
        RECEIVED = "received", "Received, not processed yet"
        PROCESSED = "processed", "Processed"
        REFUSED = "refused", "Refused"
        DUPLICATE = "duplicate", "Duplicate (no effect)"
        FAILED = "failed", "Processing failed"
        IGNORED = "ignored", "Kept, nothing to do"

    provider = models.CharField(max_length=20, choices=provider_choices)
    merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_events"
    )
    account = models.ForeignKey(ProviderAccount, null=True, blank=True, on_delete=models.SET_NULL)
    transfer = models.ForeignKey(
        TransferRequest,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_events",
    )
    kind = models.CharField(max_length=60, blank=True)
    path = models.CharField(max_length=500, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = EncryptedBytesField(null=True, blank=True)
    body_size = models.PositiveIntegerField(default=0)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    verified = models.BooleanField(default=False)
    state = models.CharField(
        max_length=20, choices=State.choices, default=State.RECEIVED, db_index=True
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "received_at"])]
        verbose_name = "provider delivery"
        verbose_name_plural = "provider deliveries"

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} #{self.pk}"


class AuditEntry(models.Model):
    """Who did what, when. Never the secret itself."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    merchant = models.ForeignKey(Merchant, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    # Hash chain per merchant: each entry stores the hash of the one before it, so an
    # edited, deleted or reordered entry is found by `manage.py audit_verify`.
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "audit entries"
        # A chain in order, and its newest entry (read under the lock by every writer).
        indexes = [models.Index(fields=["merchant", "id"], name="kyc_audit_chain")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        """Append-only: a new entry is chained (kyc.audit); an existing one never changes."""
        if not self._state.adding:
            raise AppendOnlyError("AuditEntry rows are append-only")
        if not self.hash:
            from kyc.audit import audit_append

            audit_append(self)  # sets prev_hash and hash, then saves again
            return
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("AuditEntry rows are append-only")


class AuditChainHead(models.Model):
    """How far one audit chain was last verified (kyc.audit.chain_verify_from_head), so the
    admin walks only the entries after it. A database trigger (migration kyc 0010) moves it
    back to the start whenever an entry of the chain is updated or deleted, or one is
    inserted below it; `epoch` changes then, so a verification that ran meanwhile does not
    store its result. `manage.py audit_verify` never reads it."""

    chain = models.BigIntegerField(unique=True)  # the merchant's id; 0: entries without one
    epoch = models.BigIntegerField(default=0)
    last_id = models.BigIntegerField(default=0)  # 0: nothing verified yet
    hash = models.CharField(max_length=64, blank=True)  # the chain's hash at last_id
    checked = models.PositiveIntegerField(default=0)
    legacy = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"audit chain {self.chain} verified to #{self.last_id}"


# --- outgoing webhooks to merchants' backends (kyc/outbox.py) -----------------------


class WebhookEndpoint(models.Model):
    """A merchant's URL that receives signed events (Standard Webhooks)."""

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=1000)
    # Event types, or ["*"] for every event.
    events = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # "whsec_" + base64; shown once. The previous secret keeps signing until it expires.
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Set only when the endpoint was created through a key with the `pii` scope.
    include_pii = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Start of the current run of failures (None after any success): 5 days of it disables.
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.merchant} -> {self.url}"

    def subscribed(self, event_type: str) -> bool:
        return "*" in (self.events or []) or event_type in (self.events or [])


class WebhookMessage(models.Model):
    """The outbox: one row per event, written in the transaction of the change it reports.

    The primary key only grows, so it is the payload's `sequence` (for one object, a
    later change always has a larger number)."""

    id = models.BigAutoField(primary_key=True)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="webhook_messages"
    )
    msg_id = models.CharField(max_length=40, unique=True)  # webhook-id: "msg_…"
    event_type = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    data = models.JSONField(default=dict)  # never decrypted PII
    # For `ping`: only this endpoint receives the message.
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # When deliveries (one per subscribed endpoint) were created; None: the sweeper does it.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["dispatched_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.msg_id}"


class WebhookDelivery(models.Model):
    """One message to one endpoint, retried on the schedule until 2xx or the last attempt."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (replayable)"

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)  # in the current retry schedule
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "endpoint"], name="one_delivery_per_endpoint"
            )
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["endpoint", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} -> {self.endpoint_id} ({self.state})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: what the receiver answered, and how fast."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempts_log"
    )
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_body = models.TextField(blank=True)  # the first 1 KB of the answer
    error = models.CharField(max_length=300, blank=True)
    trigger = models.CharField(max_length=20, default="auto")  # auto | replay | recover | test

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error} at {self.at:%H:%M:%S}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class IdempotentRequest(models.Model):
    """A POST answered once per (API key, Idempotency-Key): replays return the stored answer."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="idempotent")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = EncryptedJSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "key"], name="one_answer_per_idempotency_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"


def new_totp_key() -> str:
    """A fresh TOTP secret: 20 random bytes, hex (what django-otp's TOTPDevice uses)."""
    return secrets.token_hex(20)


def totp_key_validator(value: str) -> None:
    from django.core.exceptions import ValidationError

    try:
        if not 1 <= len(bytes.fromhex(value)) <= 40:
            raise ValueError
    except ValueError:
        raise ValidationError("A TOTP key is 1 to 40 bytes of hex.") from None


class StaffTOTPDevice(TimestampMixin, ThrottlingMixin, Device):
    """A staff member's authenticator app (STAFF_REQUIRE_2FA), its secret encrypted at rest.

    The fields and the check are django-otp's TOTPDevice, whose `key` is a plain hex column;
    here it is an EncryptedTextField (hex inside), so a database dump holds no usable secret
    and `manage.py rotate_keys` re-encrypts it with everything else.
    """

    key = EncryptedTextField(default=new_totp_key, validators=[totp_key_validator])
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    # The time step of the last accepted code: a code is never accepted twice.
    last_t = models.BigIntegerField(default=-1)

    class Meta(Device.Meta):
        verbose_name = "staff authenticator"

    @property
    def bin_key(self) -> bytes:
        return bytes.fromhex(self.key)

    def get_throttle_factor(self) -> int:
        return int(getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1))

    def verify_token(self, token: object) -> bool:
        """django-otp's TOTPDevice.verify_token, on the decrypted key."""
        if not self.verify_is_allowed()[0]:
            return False
        try:
            code = int(str(token))
        except ValueError:
            verified = False
        else:
            totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
            totp.time = time.time()
            verified = totp.verify(code, self.tolerance, self.last_t + 1)
            if verified:
                self.last_t = totp.t()
                if getattr(settings, "OTP_TOTP_SYNC", True):
                    self.drift = totp.drift
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save()
        if not verified:
            self.throttle_increment(commit=True)
        return verified

    @property
    def config_url(self) -> str:
        """The otpauth:// URI authenticator apps read from the QR code."""
        label = str(self.user.get_username())
        params = urlencode(
            {
                "secret": base64.b32encode(self.bin_key),
                "algorithm": "SHA1",
                "digits": self.digits,
                "period": self.step,
            }
        )
        issuer = str(getattr(settings, "OTP_TOTP_ISSUER", "") or "").replace(":", "")
        if issuer:
            label = f"{issuer}:{label}"
            params += f"&issuer={quote(issuer)}"
        return f"otpauth://totp/{quote(label)}?{params}"


class StaffSetupCode(models.Model):
    """The one-time code that lets a signed-in staff member set up their authenticator
    (STAFF_REQUIRE_2FA): without it, whoever first signed in with a leaked password would own
    the account's second factor. Issued by a superuser (admin action on users) or by
    `manage.py staff_setup_code`, handed over apart from the password; it sets up one
    authenticator (spent when that one is confirmed) within STAFF_SETUP_CODE_HOURS. Only its
    keyed digest is stored."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_setup_code"
    )
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = "authenticator setup code"

    def __str__(self) -> str:
        return f"setup code of user #{self.user_id}, expires {self.expires_at:%Y-%m-%d %H:%M}"
