"""Sunbird issuance: key reservations and tracked, resumable issuance runs."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from kyc.models import Merchant

STEP_NAMES: tuple[str, ...] = (
    "find_root_org",
    "reserve_keys",
    "assign_keys",
    "attach_template",
    "issue",
    "collect",
)
DEFAULT_CERT_NAME = "100PercentCompletionCertificate"


def default_filters() -> dict[str, Any]:
    return {"status": "2"}


class KeyReservation(models.Model):
    """Which enc-service key went to which root org (2.3.5 guide, step 2), so a key is never reused.

    Unique per merchant: each merchant runs its own Sunbird whose enc-service has its own
    key set, and one merchant must not learn or block another's key identifiers.
    """

    class Purpose(models.TextChoices):
        SIGN = "sign", "Signing"
        ENC = "enc", "Encryption"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    root_org_id = models.CharField(max_length=100)
    root_org_name = models.CharField(max_length=300, blank=True)
    key_id = models.CharField("key identifier", max_length=200)
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    run = models.ForeignKey(
        "IssuanceRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="keys"
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "key_id"],
                name="sunbird_key_reserved_once",
                violation_error_message="This key is already reserved; a key can be reserved once.",
            )
        ]
        ordering = ["root_org_id", "purpose", "key_id"]

    def __str__(self) -> str:
        return f"{self.key_id} ({self.purpose}) → {self.root_org_name or self.root_org_id}"

    def clean(self) -> None:
        """Name the holder in the message: 'already reserved' alone does not help a person."""
        if not self.merchant_id or not self.key_id:
            return
        other = (
            KeyReservation.objects.filter(merchant_id=self.merchant_id, key_id=self.key_id)
            .exclude(pk=self.pk)
            .first()
        )
        if other is not None:
            raise ValidationError({"key_id": reserved_message(other)})


def reserved_message(existing: KeyReservation) -> str:
    who = f" by {existing.added_by}" if existing.added_by_id else ""
    return (
        f"Key “{existing.key_id}” is already reserved for root org "
        f"{existing.root_org_name or existing.root_org_id} ({existing.root_org_id}) as a "
        f"{existing.get_purpose_display().lower()} key{who} on "
        f"{existing.created_at:%Y-%m-%d}; a key can be reserved once."
    )


class IssuanceRun(models.Model):
    """One issuance of a course batch's certificates, carried out step by step by Celery."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed (retry the failed step)"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    root_org_id = models.CharField(max_length=100)
    root_org_name = models.CharField(max_length=300, blank=True)
    root_org_channel = models.CharField(max_length=100, blank=True)
    course_id = models.CharField(max_length=200)
    batch_id = models.CharField(max_length=200)
    certificate_name = models.CharField(max_length=200, default=DEFAULT_CERT_NAME)
    sign_keys = models.JSONField(default=list)
    enc_keys = models.JSONField(default=list)
    issuer_name = models.CharField(max_length=300)
    issuer_url = models.URLField(max_length=500)
    signatories = models.JSONField(default=list, blank=True)
    html_template_url = models.URLField(max_length=1000)
    notify_template = models.JSONField(default=dict, blank=True)
    filters = models.JSONField(default=default_filters, blank=True)
    reissue = models.BooleanField(
        default=False, help_text="Issue again to learners who already have a certificate."
    )
    expected_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Learners expected; blank: the registry's count."
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    current_step = models.CharField(max_length=30, blank=True)
    # Only the task carrying the current token may advance the run; retry/reconcile rotate it
    # so a late redelivery of an old task does nothing.
    chain_token = models.CharField(max_length=32, default="", blank=True)
    registry_count = models.PositiveIntegerField(default=0)
    collected_count = models.PositiveIntegerField(default=0)
    collect_offset = models.PositiveIntegerField(default=0)
    stable_polls = models.PositiveIntegerField(default=0)
    # When this run last saw a new certificate of its own (start of the quiet period that
    # ends a run without an expected count).
    last_growth_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the issue POST last left (committed before sending): certificates created
    # after it belong to this run, and a step that finds it set knows something was sent.
    issue_sent_at = models.DateTimeField(null=True, blank=True)
    # Staff chose to send the issue call again although its last outcome is unknown.
    issue_resubmit = models.BooleanField(default=False)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["merchant", "-created_at"])]

    def __str__(self) -> str:
        return f"Run #{self.pk} {self.course_id}/{self.batch_id} ({self.status})"

    @property
    def target_count(self) -> int:
        # Not the registry's count: it lists other runs' certificates of the batch too.
        return int(self.expected_count or 0)

    @property
    def progress_percent(self) -> int:
        target = self.target_count
        if not target:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, int(self.collected_count * 100 / target))

    @property
    def issue_unknown(self) -> bool:
        """The issue call's outcome is unknown (the page offers staff the re-submit)."""
        return self.steps.filter(name="issue", status=IssuanceStep.Status.UNKNOWN).exists()

    @property
    def is_terminal(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    def new_token(self) -> str:
        self.chain_token = uuid.uuid4().hex
        return self.chain_token


class IssuanceStep(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        # The issue call was sent but its answer never came (timeout, reset, 5xx): it is
        # never repeated blindly; the registry is asked instead, and staff decide.
        UNKNOWN = "unknown", "Sent, outcome unknown"

    run = models.ForeignKey(IssuanceRun, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=30, choices=[(n, n.replace("_", " ")) for n in STEP_NAMES])
    order = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # What was asked and answered, without secrets (no tokens, no API key, no password).
    request_summary = models.JSONField(default=dict, blank=True)
    answer_summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "order"]
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="sunbird_one_step_per_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def request_text(self) -> str:
        return json.dumps(self.request_summary, sort_keys=True, ensure_ascii=False)

    @property
    def answer_text(self) -> str:
        return json.dumps(self.answer_summary, sort_keys=True, ensure_ascii=False)


class RunCertificate(models.Model):
    """A certificate this run produced: created in the registry after the run's issue call
    was sent, and not one the portal already had. A run counts only these."""

    run = models.ForeignKey(IssuanceRun, on_delete=models.CASCADE, related_name="certificates")
    external_id = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "external_id"], name="sunbird_run_certificate_once"
            )
        ]

    def __str__(self) -> str:
        return self.external_id
