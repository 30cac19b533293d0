"""A proxy of TransferRequest so compliance finds Incode requests waiting for review
in the admin's own "Incode" section (no table of its own)."""

from __future__ import annotations

from kyc.models import TransferRequest


class IncodeReview(TransferRequest):
    class Meta:
        proxy = True
        verbose_name = "Incode request in review"
        verbose_name_plural = "Incode requests in review"
