"""One requests session factory for every provider client.

- every call has a timeout (connect, read);
- retries happen only for idempotent methods and only on connection errors and
  502/503/504 (never for POST: a retried POST could start two verifications);
- responses map to typed errors: 5xx/timeouts retryable, 4xx permanent;
- request logging never prints headers or bodies, only method, path and status.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from providers.errors import AuthenticationError, NotFoundError, PermanentError, RetryableError

log = logging.getLogger("providers.http")

DEFAULT_TIMEOUT = (3.05, 10.0)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class _TimeoutSession(requests.Session):
    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._timeout = timeout

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def session(
    *, timeout: tuple[float, float] = DEFAULT_TIMEOUT, retries: int = 2
) -> requests.Session:
    """A session with timeouts on every call and retries for idempotent requests only."""
    s = _TimeoutSession(timeout)
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        allowed_methods=IDEMPOTENT,
        status_forcelist=(502, 503, 504),
        backoff_factor=0.2,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = "kyc-portal/1"
    return s


_shared: requests.Session | None = None


def shared_session() -> requests.Session:
    """One pooled session per process (connections are reused across calls)."""
    global _shared
    if _shared is None:
        _shared = session()
    return _shared


def call(
    method: str,
    url: str,
    *,
    sess: requests.Session | None = None,
    expect_json: bool = True,
    **kwargs: Any,
) -> Any:
    """Make one call and map failures to typed errors. Returns parsed JSON or text."""
    s = sess or shared_session()
    try:
        resp = s.request(method, url, **kwargs)
    except requests.Timeout as exc:
        raise RetryableError(f"{method} {_path(url)} timed out", code="provider_timeout") from exc
    except requests.ConnectionError as exc:
        raise RetryableError(f"{method} {_path(url)}: provider unreachable") from exc
    log.info("%s %s -> %s", method, _path(url), resp.status_code)
    raise_for_status(resp, method=method, url=url)
    if not expect_json:
        return resp.text
    if not resp.content:
        return {}
    try:
        return resp.json()
    except ValueError as exc:
        raise PermanentError(
            f"{method} {_path(url)}: provider answered non-JSON", code="provider_bad_answer"
        ) from exc


def raise_for_status(resp: requests.Response, *, method: str, url: str) -> None:
    status = resp.status_code
    if status < 400:
        return
    # The provider's own words, short: they are what a merchant needs to see.
    detail = (resp.text or "").strip()[:300]
    where = f"{method} {_path(url)}"
    if status in (401, 403):
        raise AuthenticationError(f"{where}: {status} {detail}".strip(), status=status)
    if status == 404:
        raise NotFoundError(f"{where}: 404 {detail}".strip(), status=status)
    if status == 429 or status >= 500:
        raise RetryableError(f"{where}: {status} {detail}".strip(), status=status)
    raise PermanentError(detail or f"{where}: {status}", status=status)


def _path(url: str) -> str:
    """Log only the path: query strings can carry ids and tokens."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"
