"""Incode's own rows: the ID and selfie images fetched for compliance review (encrypted),
and a proxy of TransferRequest so compliance finds Incode requests waiting for review in
the admin's own "Incode" section."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from kyc.crypto import EncryptedBytesField
from kyc.models import TransferRequest


class IncodeReview(TransferRequest):
    class Meta:
        proxy = True
        verbose_name = "Incode request in review"
        verbose_name_plural = "Incode requests in review"


class IncodeImage(models.Model):
    """One image Incode captured in an onboarding (`/omni/get/images`), stored encrypted.

    Erased with the record's PII: kyc.services.record_erase blanks `data` (an encrypted
    field of a row tied to a request) and sets `erased_at`; the provider's record_erased
    hook then deletes the rows.
    """

    class Kind(models.TextChoices):
        # Values are Incode's image names.
        FRONT = "croppedFrontID", "ID front"
        BACK = "croppedBackID", "ID back"
        SELFIE = "croppedFace", "Selfie"

    transfer = models.ForeignKey(
        TransferRequest, on_delete=models.CASCADE, related_name="incode_images"
    )
    kind = models.CharField(max_length=40, choices=Kind.choices)
    content_type = models.CharField(max_length=40, default="image/png")
    data = EncryptedBytesField(null=True, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Incode image"
        verbose_name_plural = "Incode images"
        constraints = [
            models.UniqueConstraint(fields=["transfer", "kind"], name="incode_image_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.transfer_id}"
