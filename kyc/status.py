"""The TransferRequest status machine: the one place that says which moves are allowed.

Statuses are ordered by stage. A request only moves forward: callbacks arrive
late, twice or out of order, and an old one must never undo a newer one.
Terminal statuses have no way out.
"""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    CREATED = "created", "Created"
    PENDING = "pending", "Waiting for the customer"
    ACCEPTED = "accepted", "Accepted by the customer"
    PROCESSING = "processing", "Provider is processing"
    REVIEW = "review", "Waiting for compliance review"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    DECLINED = "declined", "Declined by the customer"
    EXPIRED = "expired", "Expired"
    REJECTED = "rejected", "Rejected in review"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL: frozenset[str] = frozenset(
    {
        Status.COMPLETED,
        Status.FAILED,
        Status.DECLINED,
        Status.EXPIRED,
        Status.REJECTED,
        Status.CANCELLED,
    }
)
SUCCESS: frozenset[str] = frozenset({Status.COMPLETED})

# Stage of every non-terminal status; terminal ones sit above all of them.
_STAGE: dict[str, int] = {
    Status.CREATED: 0,
    Status.PENDING: 1,
    Status.ACCEPTED: 2,
    Status.PROCESSING: 3,
    Status.REVIEW: 4,
}

# Explicit table of allowed moves, derived once from the stages so it cannot drift.
TRANSITIONS: dict[str, frozenset[str]] = {
    s: frozenset(t for t in Status.values if t not in _STAGE or _STAGE[t] > _STAGE[s])
    for s in _STAGE
}
TRANSITIONS.update({s: frozenset() for s in TERMINAL})

# Review has its own exits: only staff decide, so review never silently completes
# from a provider callback except through approve/reject (both terminal) or failure.
TRANSITIONS[Status.REVIEW] = frozenset(
    {Status.COMPLETED, Status.REJECTED, Status.FAILED, Status.EXPIRED, Status.CANCELLED}
)


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


# What the customer page says for each status: copy, kept as a table at module level
# (mutation testing checks the lookup below, not the wording).
PLAIN_WORDS: dict[str, str] = {
    Status.CREATED: "Preparing your request…",
    Status.PENDING: "Scan the code with your phone to continue.",
    Status.ACCEPTED: "You approved the request. We are receiving your data…",
    Status.PROCESSING: "Almost there: the provider is finishing up…",
    Status.REVIEW: "Done on your side. Our team will review your details.",
    Status.COMPLETED: "All done. Your details were received. You can close this page.",
    Status.FAILED: "Something went wrong and the request could not be completed.",
    Status.DECLINED: "You declined the request. Nothing was shared.",
    Status.EXPIRED: "This request expired before it was completed. Ask for a new one.",
    Status.REJECTED: "Your details could not be accepted.",
    Status.CANCELLED: "This request was cancelled.",
}


def plain_words(status: str) -> str:
    """What the customer page says for a status (an unknown one is shown as is)."""
    return PLAIN_WORDS.get(status, status)
