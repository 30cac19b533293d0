"""One requests session factory and ONE outbound policy for every provider call.

Transport:
- every call has a timeout (connect, read);
- retries happen only for idempotent methods and only on connection errors and
  502/503/504 (never for POST: a retried POST could start two verifications);
- responses map to typed errors: 5xx/timeouts retryable, 4xx permanent, 3xx refused;
- request logging never prints headers or bodies, only method, host, path and status.

Outbound policy (merchants type provider URLs, so every URL is untrusted input):
- http and https only; no user:password@ in a URL; no dot segments in the path;
- the host must be on the provider's allow-list (DEFAULT_ALLOWED_HOSTS, replaced per
  provider by the operator's PROVIDER_ALLOWED_HOSTS);
- the host name is resolved ONCE, every address it resolves to must be public (loopback,
  private, link-local/metadata, CGNAT, multicast, unspecified, reserved and documentation
  ranges are refused, IPv4 and IPv6, also inside IPv4-mapped, 6to4 and NAT64 forms), and
  the connection goes to that checked address (TLS SNI, certificate check and the Host
  header still use the name), so DNS rebinding gains nothing;
- redirects are never followed;
- with SANDBOX on, the portal's own sandbox (PUBLIC_URL + /sandbox/<provider>/) is allowed
  explicitly; OUTBOUND_ALLOW_NETWORKS (operator, empty by default) names extra networks a
  provider may live in (e.g. an internal CorePass connector).

Merchants see short messages written here ("the provider answered 404"); the provider's
body and the URL go to the server log and to ProviderError.detail only.
"""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import logging
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from kyc import metrics
from kyc.errors import (
    AuthenticationError,
    NotFoundError,
    OutboundRefused,
    PermanentError,
    RetryableError,
)

log = logging.getLogger("kyc.http")

DEFAULT_TIMEOUT = (3.05, 10.0)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# Where each provider's API lives. "*" = any public host: CorePass connectors are run by
# each merchant and Sunbird is self-hosted, so no fixed host exists for them (the address
# checks still apply). Operators replace a provider's list with PROVIDER_ALLOWED_HOSTS.
DEFAULT_ALLOWED_HOSTS: dict[str, tuple[str, ...]] = {
    "incode": ("*.incodesmile.com",),  # demo-api., saas-api., ... (Incode's public samples)
    "blockpass": ("*.blockpass.org",),  # kyc.blockpass.org (Blockpass's integration guide)
    "portmone": ("portmone.com.ua", "*.portmone.com.ua"),
    "corepass": ("*",),
    "sunbird": ("*",),
    "webhook": ("*",),  # merchants' own backends (kyc/outbox.py), any public host
}

_V4_REFUSED = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network", 0.0.0.0
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_REFUSED = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32), benchmarking
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)
_V6_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_V6_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V6_6TO4 = ipaddress.IPv6Network("2002::/16")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- settings -------------------------------------------------------------------


def parse_allowed_hosts(value: str | Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """`incode=api.example.com,*.incodesmile.com;portmone=x.example` (or a dict) -> dict."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        items: Iterable[tuple[str, Any]] = value.items()
    else:
        items = []
        for part in str(value).split(";"):
            if not part.strip():
                continue
            name, sep, hosts = part.partition("=")
            if not sep or not name.strip():
                raise ImproperlyConfigured(
                    "PROVIDER_ALLOWED_HOSTS: write provider=host,host;provider=host"
                )
            items.append((name, hosts))
    out: dict[str, tuple[str, ...]] = {}
    for name, hosts in items:
        listed = hosts.split(",") if isinstance(hosts, str) else list(hosts)
        out[str(name).strip().lower()] = tuple(
            h.strip().lower().rstrip(".") for h in listed if str(h).strip()
        )
    return out


@functools.lru_cache(maxsize=8)
def _networks(value: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in value if v.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"OUTBOUND_ALLOW_NETWORKS: {exc}") from None


def allowed_networks() -> tuple[IPNetwork, ...]:
    """Extra networks the operator lets provider calls reach (empty by default)."""
    value = getattr(settings, "OUTBOUND_ALLOW_NETWORKS", ()) or ()
    if isinstance(value, str):
        value = value.split(",")
    return _networks(tuple(str(v) for v in value))


def allowed_hosts(provider: str) -> tuple[str, ...]:
    override = parse_allowed_hosts(getattr(settings, "PROVIDER_ALLOWED_HOSTS", ""))
    if provider in override:
        return override[provider]
    return DEFAULT_ALLOWED_HOSTS.get(provider, ())


# --- the policy -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A URL that passed the URL-level checks; the address is checked at connect time."""

    provider: str
    scheme: str
    host: str  # ASCII, lower case, no brackets
    port: int
    sandbox: bool  # the portal's own sandbox (loopback allowed)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _refuse(reason: str, *, url: str = "") -> OutboundRefused:
    return OutboundRefused(
        f"The provider URL was refused: {reason}.", detail=f"{reason}: {_path(url)}"
    )


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def address_refused(ip: IPAddress) -> str:
    """Why `ip` may not be reached ("" when it may): public addresses only."""
    if any(ip in net for net in allowed_networks()):
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        # Forms that carry an IPv4 address are judged by that address.
        if ip in _V6_MAPPED or ip in _V6_NAT64:
            return address_refused(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip in _V6_6TO4 and ip.sixtofour is not None:
            return address_refused(ip.sixtofour)
        if ip not in _V6_GLOBAL_UNICAST or any(ip in net for net in _V6_REFUSED):
            return "it points to a non-public address"
        return ""
    if any(ip in net for net in _V4_REFUSED):
        return "it points to a non-public address"
    return ""


def _host_matches(host: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _sandbox_match(parts: Any, host: str, port: int, provider: str) -> bool:
    """The portal's own sandbox for this provider (PUBLIC_URL origin + /sandbox/<name>/)."""
    if not getattr(settings, "SANDBOX", False):
        return False
    public = urlsplit(settings.PUBLIC_URL)
    public_port = public.port or (443 if public.scheme == "https" else 80)
    prefix = f"{public.path.rstrip('/')}/sandbox/{provider}/"
    return (
        parts.scheme == public.scheme
        and host == (public.hostname or "").lower()
        and port == public_port
        and parts.path.startswith(prefix)
    )


def check_url(url: str, *, provider: str) -> Target:
    """URL-level checks (no network): scheme, credentials, path, host allow-list.

    Raises OutboundRefused with a message that is safe to show to the merchant who
    typed the URL (it names the rule, never echoes an answer)."""
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port
    except ValueError:
        raise _refuse("it is not a valid URL", url=url) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refuse("only http and https URLs are allowed", url=url)
    if not parts.hostname:
        raise _refuse("it has no host name", url=url)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _refuse("a URL must not carry a user name or password", url=url)
    raw_path = parts.path
    if "\\" in raw_path or any(seg in (".", "..") for seg in unquote(raw_path).split("/")):
        raise _refuse("the path must not contain . or .. segments", url=url)
    try:
        host = parts.hostname.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _refuse("the host name is not valid", url=url) from None
    if not host:
        raise _refuse("it has no host name", url=url)
    port = port or (443 if scheme == "https" else 80)
    if _sandbox_match(parts, host, port, provider):
        return Target(provider, scheme, host, port, sandbox=True)
    literal = _ip_literal(host)
    on_list = any(_host_matches(host, p) for p in allowed_hosts(provider))
    operator_net = literal is not None and any(literal in n for n in allowed_networks())
    if not (on_list or operator_net):
        raise _refuse(
            f"the host is not on the allow-list for {provider or 'this provider'}", url=url
        )
    if literal is not None:
        reason = address_refused(literal)
        if reason:
            raise _refuse(reason, url=url)
    return Target(provider, scheme, host, port, sandbox=False)


def resolve(target: Target) -> str:
    """Resolve the host ONCE and check every address; return the one to connect to."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RetryableError(
            "Could not reach the provider (unreachable: its host name did not resolve).",
            detail=f"resolve {target.host}: {type(exc).__name__}",
        ) from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise RetryableError(
            "Could not reach the provider (unreachable).", detail=f"no address: {target.host}"
        )
    if not target.sandbox:
        for ip in addresses:
            # Any refused address refuses the host: a name that mixes public and internal
            # answers is an attack, not a provider.
            if address_refused(ip):
                raise _refuse("it points to a non-public address", url=f"//{target.host}/")
    return str(addresses[0])


# Set by call() around one request; read by the transport on the same thread.
_target: contextvars.ContextVar[Target | None] = contextvars.ContextVar(
    "outbound_target", default=None
)
_pinned: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "outbound_pinned", default=None
)


@contextmanager
def pinned_to(target: Target) -> Iterator[None]:
    """Requests sent inside go to `target`'s checked address through PinnedAdapter; the
    one way code outside this module (e.g. merchant webhooks) uses the policy's transport."""
    token = _target.set(target)
    try:
        yield
    finally:
        _target.reset(token)


class PinnedAdapter(HTTPAdapter):
    """Connects to the address the policy checked, never to a second DNS answer.

    The pool is keyed on that IP; TLS uses the host name for SNI and the certificate
    check, and the Host header carries the name, so the provider sees a normal request."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        target = _target.get()
        if target is None:
            raise OutboundRefused(
                "The provider URL was refused.", detail="request made outside http.call()"
            )
        parts = urlsplit(request.url or "")
        if (
            (parts.hostname or "").rstrip(".").lower() != target.host
            or (parts.port or (443 if parts.scheme == "https" else 80)) != target.port
            or parts.scheme != target.scheme
        ):
            raise OutboundRefused(
                "The provider URL was refused.", detail="request URL differs from the checked one"
            )
        ip = resolve(target)
        request.headers["Host"] = target.host_header
        token = _pinned.set(ip)
        try:
            return super().send(request, *args, **kwargs)
        finally:
            _pinned.reset(token)

    def build_connection_pool_key_attributes(  # type: ignore[override]
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        params, kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params: dict[str, Any] = dict(params)
        pool_kwargs: dict[str, Any] = dict(kwargs)
        ip = _pinned.get()
        if ip is None:  # only send() opens connections, and it always pins
            raise OutboundRefused("The provider URL was refused.", detail="unpinned connection")
        name = str(host_params["host"])
        host_params["host"] = ip
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


class _TimeoutSession(requests.Session):
    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._timeout = timeout
        # No proxies, .netrc credentials or CA overrides from the environment: the
        # connection goes where the policy checked, with what the client module set.
        self.trust_env = False

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        kwargs["allow_redirects"] = False
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
        redirect=0,
        allowed_methods=IDEMPOTENT,
        status_forcelist=(502, 503, 504),
        backoff_factor=0.2,
        raise_on_status=False,
        raise_on_redirect=False,
        respect_retry_after_header=False,
    )
    adapter = PinnedAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
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


@metrics.timed_provider_call  # latency and errors per provider (kyc/metrics.py, /metrics)
def call(
    method: str,
    url: str,
    *,
    provider: str,
    sess: requests.Session | None = None,
    expect_json: bool = True,
    **kwargs: Any,
) -> Any:
    """Make one call under the outbound policy and map failures to typed errors.

    Returns parsed JSON or text."""
    target = check_url(url, provider=provider)
    s = sess or shared_session()
    where = f"{method} {_path(url)}"
    try:
        with pinned_to(target):
            resp = s.request(method, url, allow_redirects=False, **kwargs)
    except requests.Timeout as exc:
        log.warning("%s timed out", where)
        raise RetryableError(
            "The provider timed out (no answer in time).", code="provider_timeout", detail=where
        ) from exc
    except requests.ConnectionError as exc:
        log.warning("%s: provider unreachable (%s)", where, type(exc).__name__)
        raise RetryableError("Could not reach the provider (unreachable).", detail=where) from exc
    except requests.RequestException as exc:  # invalid URL, schema, headers...
        log.warning("%s: request refused by the client (%s)", where, type(exc).__name__)
        raise OutboundRefused(
            "The provider URL was refused: it is not a valid URL.", detail=where
        ) from None
    log.info("%s -> %s", where, resp.status_code)
    raise_for_status(resp, method=method, url=url)
    if not expect_json:
        return resp.text
    if not resp.content:
        return {}
    try:
        return resp.json()
    except ValueError as exc:
        raise PermanentError(
            "The provider answered something that is not JSON.",
            code="provider_bad_answer",
            detail=where,
        ) from exc


def raise_for_status(resp: requests.Response, *, method: str, url: str) -> None:
    """Typed errors for 3xx/4xx/5xx. Merchants see "the provider answered 404"; the body
    is logged (short, through the redacting filter) and kept in `detail`, never shown."""
    status = resp.status_code
    if status < 300:
        return
    where = f"{method} {_path(url)}"
    body = (resp.text or "").strip()[:300]
    detail = f"{where}: {status} {body}".strip()
    log.warning("%s -> %s (provider said: %s)", where, status, body)
    if status < 400:
        raise PermanentError(
            f"The provider answered {status} (a redirect, which is never followed).",
            code="provider_redirect",
            status=status,
            detail=detail,
        )
    message = f"The provider answered {status}."
    if status in (401, 403):
        raise AuthenticationError(message, status=status, detail=detail)
    if status == 404:
        raise NotFoundError(message, status=status, detail=detail)
    if status == 429 or status >= 500:
        raise RetryableError(message, status=status, detail=detail)
    raise PermanentError(message, status=status, detail=detail)


def _path(url: str) -> str:
    """Log only host and path: query strings can carry ids and tokens."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or ''}{parts.path}"
    except ValueError:
        return "<invalid url>"
