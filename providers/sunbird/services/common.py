"""What every part of the Sunbird flow shares: the timings (settings, else environment, else
default), the limits, the errors a step raises and what a step returns."""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings

log = logging.getLogger("providers.sunbird.services")
PROVIDER = "sunbird"
T = TypeVar("T")


def _setting(name: str, default: float) -> float:
    """Django setting, else environment (lets a test worker poll faster), else default."""
    value: Any = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return float(value)


def poll_seconds() -> float:
    return min(_setting("SUNBIRD_POLL_SECONDS", 5.0), float(settings.CELERY_MAX_COUNTDOWN))


def stale_seconds() -> float:
    return _setting("SUNBIRD_STALE_SECONDS", 120.0)


def collect_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=_setting("SUNBIRD_COLLECT_TIMEOUT_SECONDS", 6 * 3600.0))


def issue_read_timeout() -> float:
    """Read timeout of the issue POST (Sunbird answers "submitted" once it queued the event)."""
    return _setting("SUNBIRD_ISSUE_READ_TIMEOUT_SECONDS", 10.0)


def issue_verify_window() -> dt.timedelta:
    """How long an issue call of unknown outcome is checked against the registry before the
    run stops and waits for staff (Sunbird publishes certificates seconds to minutes later)."""
    return dt.timedelta(seconds=_setting("SUNBIRD_ISSUE_VERIFY_SECONDS", 1800.0))


def clock_skew() -> dt.timedelta:
    """Tolerance between our clock and the registry's createdAt."""
    return dt.timedelta(seconds=_setting("SUNBIRD_CLOCK_SKEW_SECONDS", 30.0))


def quiet_period() -> dt.timedelta:
    """Without an expected count, a run is done once no new certificate of its own has
    appeared for this long (Sunbird publishes in bursts; one unchanged poll proves nothing)."""
    return dt.timedelta(seconds=_setting("SUNBIRD_QUIET_SECONDS", 120.0))


MAX_PAGES_PER_ROUND = 50  # bounds one task's duration; the next round continues at the cursor
MAX_AUTO_RETRIES = 3  # per step, for timeouts and 5xx; then the step fails and waits for a person


class KeyAlreadyReserved(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StepFailed(Exception):
    """A step cannot succeed as asked; the message is shown on the run page."""


class IssueOutcomeUnknown(Exception):
    """The issue POST may have reached Sunbird (timeout, reset after sending, 5xx), or an
    earlier one did and the registry shows nothing yet: never send it again blindly."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Outcome:
    """What the caller (a task, or the inline runner) does next."""

    next_step: str | None = None
    countdown: float = 0.0
    detail: str = ""


@dataclass
class StepResult:
    request: dict[str, Any]
    answer: dict[str, Any]
    finished: bool = True  # False: collect must poll again
    run_updates: dict[str, Any] = field(default_factory=dict)
