"""Operator metrics (Prometheus): what the portal counts, and the one-line hooks that count it.

Every process (gunicorn workers, runserver, Celery workers and their children) counts in
its own memory, or, with PROMETHEUS_MULTIPROC_DIR set before this module is imported, in
files under that directory that the scrape in any web process adds up (prometheus-client's
multiprocess mode; `scripts/run.py` sets it under var/, gunicorn.conf.py marks dead
workers). Without it (tests, a single process) the default registry is used.

Labels are bounded on purpose: providers come from the registry, views are resolved URL
names (never raw paths), errors are error classes. No label ever carries a reference, a
token or any customer data.

This module imports only prometheus-client and (lazily) Django settings and Redis, so the
shared plumbing (kyc/http.py) may call it without importing kyc's models.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Queues the scrape measures (their Redis lists); "webhooks" holds outgoing webhook sends.
QUEUES = ("celery", "webhooks")
# kombu's Redis transport keeps priorities 3, 6, 9 in lists named "<queue>\x06\x16<n>".
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUEST_SECONDS = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer an HTTP request, by resolved URL name (not the raw path).",
    ["view", "method", "status"],
    buckets=_LATENCY_BUCKETS,
)
DELIVERIES_RECEIVED = Counter(
    "portal_deliveries_received_total",
    "Provider deliveries (webhooks, callbacks) stored by the intake, duplicates and refusals included.",
    ["provider"],
)
DELIVERIES_REFUSED = Counter(
    "portal_deliveries_refused_total",
    "Provider deliveries refused (bad signature, unknown token, bad input, too large, ...).",
    ["provider"],
)
DELIVERIES_PROCESSED = Counter(
    "portal_deliveries_processed_total",
    "Provider deliveries processed (their effect applied).",
    ["provider"],
)
WEBHOOK_ATTEMPTS = Counter(
    "portal_webhook_attempts_total",
    "Attempts to send an outgoing webhook to a merchant's endpoint.",
)
WEBHOOK_FAILURES = Counter(
    "portal_webhook_failures_total",
    "Outgoing webhook attempts that failed: the endpoint answered non-2xx (http) or not at all "
    "(network, incl. timeouts and outbound-policy refusals).",
    ["reason"],
)
WEBHOOK_SECONDS = Histogram(
    "portal_webhook_attempt_duration_seconds",
    "Time from sending an outgoing webhook to its answer (or failure).",
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_CALL_SECONDS = Histogram(
    "portal_provider_call_duration_seconds",
    "Time of one call to a provider's API (kyc/http.py call), errors included.",
    ["provider", "method"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_CALL_ERRORS = Counter(
    "portal_provider_call_errors_total",
    "Provider calls that ended in an error, by error class (RetryableError, "
    "AuthenticationError, NotFoundError, PermanentError, OutboundRefused, ...).",
    ["provider", "error"],
)
TASK_FAILURES = Counter(
    "portal_celery_task_failures_total",
    "Celery tasks that raised (after their own retries), by task name.",
    ["task"],
)


# --- hooks (one line at each call site) ------------------------------------------------


def _provider(name: str) -> str:
    """A registered provider's name, else "other": a label never grows with input."""
    try:
        from kyc import registry

        return name if name in registry.names() else "other"
    except Exception:  # settings not ready (a bare process): still a bounded label
        return "other"


def delivery_stored(provider: str, state: str) -> None:
    """kyc.services.inbound_store: a delivery arrived (and maybe was refused, or verified
    and applied in the same request, at once)."""
    name = _provider(provider)
    DELIVERIES_RECEIVED.labels(name).inc()
    if state == "refused":
        DELIVERIES_REFUSED.labels(name).inc()
    elif state == "processed":
        DELIVERIES_PROCESSED.labels(name).inc()


def delivery_marked(provider: str, old: str, new: str) -> None:
    """kyc.services.inbound_mark: a stored delivery changed state (counted on the change)."""
    if old == new:
        return
    name = _provider(provider)
    if new == "processed":
        DELIVERIES_PROCESSED.labels(name).inc()
    elif new == "refused":
        DELIVERIES_REFUSED.labels(name).inc()


def webhook_attempted(status: int | None, error: str, latency_ms: int) -> None:
    """kyc.outbox: one attempt of an outgoing webhook has its answer (or none)."""
    WEBHOOK_ATTEMPTS.inc()
    WEBHOOK_SECONDS.observe(max(latency_ms, 0) / 1000)
    if status is None or error:
        WEBHOOK_FAILURES.labels("network").inc()
    elif not 200 <= status < 300:
        WEBHOOK_FAILURES.labels("http").inc()


F = TypeVar("F", bound=Callable[..., Any])


def timed_provider_call(fn: F) -> F:
    """Decorates kyc.http.call(method, url, *, provider=...): latency and errors."""

    @functools.wraps(fn)
    def wrapper(method: str, *args: Any, **kwargs: Any) -> Any:
        provider = _provider(str(kwargs.get("provider") or ""))
        start = time.perf_counter()
        try:
            return fn(method, *args, **kwargs)
        except Exception as exc:
            PROVIDER_CALL_ERRORS.labels(provider, type(exc).__name__).inc()
            raise
        finally:
            PROVIDER_CALL_SECONDS.labels(provider, str(method).upper()).observe(
                time.perf_counter() - start
            )

    return wrapper  # type: ignore[return-value]


def request_observed(view: str, method: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(view, method, f"{status // 100}xx").observe(seconds)


def _on_task_failure(sender: Any = None, **kwargs: Any) -> None:
    TASK_FAILURES.labels(getattr(sender, "name", None) or "unknown").inc()


def connect_celery_signals() -> None:
    """Count task failures in this process (portal/celery.py calls it once)."""
    from celery.signals import task_failure

    task_failure.connect(_on_task_failure, weak=False, dispatch_uid="portal_metrics_task_failure")


# --- the scrape ---------------------------------------------------------------------------


class QueueDepthCollector(Collector):
    """Celery queue depth, read from the broker at scrape time (Redis LLEN), never stored."""

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "portal_celery_queue_length", "Tasks waiting in a Celery queue.", labels=["queue"]
        )

    def describe(self) -> Iterator[Metric]:
        # Registration asks for the names: answer without touching settings or the broker.
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        depth = queue_depths()
        if depth is None:
            return
        family = self._family()
        for queue, n in depth.items():
            family.add_metric([queue], n)
        yield family


def queue_depths() -> dict[str, int] | None:
    """{queue: waiting tasks}, or None when the broker is neither Redis nor the embedded
    filesystem broker (`make run`), or does not answer."""
    from django.conf import settings

    url = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    if url.startswith("filesystem://"):
        return _filesystem_depths(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        with client.pipeline(transaction=False) as pipe:
            for queue in QUEUES:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
            counts = pipe.execute()
    except redis.RedisError as exc:
        log.warning("metrics: queue depth unavailable: %s", type(exc).__name__)
        return None
    step = len(_PRIORITY_SUFFIXES)
    return {q: int(sum(counts[i * step : (i + 1) * step])) for i, q in enumerate(QUEUES)}


def _filesystem_depths(options: dict[str, Any]) -> dict[str, int] | None:
    """kombu's filesystem transport keeps one `<time>_<id>.<queue>.msg` file per task."""
    folder = options.get("data_folder_in")
    try:
        names = os.listdir(folder) if folder else None
    except OSError:
        return None
    if names is None:
        return None
    return {q: sum(1 for n in names if n.partition(".")[2] == f"{q}.msg") for q in QUEUES}


_QUEUES_ON_DEFAULT = QueueDepthCollector()
REGISTRY.register(_QUEUES_ON_DEFAULT)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets: every process's figures (multiprocess mode) or this one's."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(QueueDepthCollector())
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit: forget a dead worker's live gauges (counters stay summed)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
