"""The one intake of provider deliveries: every endpoint under hooks/ is

    @intake.inbound(provider="blockpass")
    def webhook(request, token):
        return intake.receive(request)

The guarded view is also marked sessionless (kyc.sessionless): no session, locale, CSRF,
auth or messages middleware runs for a delivery. `inbound` puts the guards on the view,
visibly, in this order (each refusal is a
short JSON answer; what is kept is said per step):

1. the database unreachable anywhere below: 503 with Retry-After, nothing half-written;
2. the URL's token resolved to its merchant account (kept per process for
   WEBHOOK_ACCOUNT_CACHE_SECONDS: no query for a repeat delivery), or to its request for
   per-request URLs (/hooks/<provider>/t/<token>/...), in one query. A token that names nothing:
   limited per sender address and per token (429, nothing stored), else kept as
   metadata only (no body read) and answered 404;
3. a known token over its per-token rate limit: 429, not stored (a flood is what the
   limit prevents). Its deliveries are counted once answered, in the one Redis round
   trip that also carries the hand-over flag, and refused from the count this process
   saw last (kyc.ratelimit.seen_over: at most one delivery per web process over);
4. a body declared larger than MAX_BODY_BYTES: 413 before a byte is read, kept
   REFUSED without its body;
5. a method the endpoint does not take: 405;
6. a 4xx the view answered without storing the delivery is kept REFUSED with its reason,
   so every refusal leaves a record.

`receive` is then the same for every provider: read the body (bounded), let the
provider verify and parse it in memory (Provider.inbound_check), store it once,
encrypted (one insert; a repeated dedupe key is stored as a duplicate without
effect), apply it in the same transaction where the provider does so
(Provider.inbound_apply: the status machine) or hand it to a worker once committed
(process_delivery), commit, and only then answer 2xx.

With `atomic=True` the whole of it (guards included) is one transaction and the
URL's request row is locked by the token query itself: one commit per delivery, no
second read of the row. Should applying fail, everything rolls back and the delivery
is stored RECEIVED on its own (the sweeper applies it later), answered 503.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from kyc import queued, ratelimit, registry
from kyc.contract import Delivery, Verdict
from kyc.sessionless import sessionless
from kyc.webhooks import (
    BodyTooLarge,
    answer,
    database_unavailable,
    declared_length,
    headers_of,
    read_body,
    remote_addr,
)

log = logging.getLogger(__name__)

View = Callable[..., HttpResponse]

# What is worth keeping of a stranger's headers, each value cut short.
_KEPT_HEADERS = ("content-type", "content-length", "user-agent", "x-forwarded-for")
_HEADER_CHARS = 200


@dataclass
class Sender:
    """Who the URL's token names, resolved once by the guards (request.inbound)."""

    provider: str
    token: str
    account: Any = None  # ProviderAccount (merchant webhook URLs)
    transfer: Any = None  # TransferRequest (per-request callback URLs)
    stored: bool = False  # an InboundEvent of this request was stored
    body: bytes | None = None  # as receive() read it (the stream is consumed then)

    @property
    def known(self) -> bool:
        return self.account is not None or self.transfer is not None


def sender_of(request: HttpRequest) -> Sender:
    sender = getattr(request, "inbound", None)
    if not isinstance(sender, Sender):
        raise RuntimeError("kyc.intake.receive needs a view decorated with @intake.inbound")
    return sender


# --- the guards ---------------------------------------------------------------------


# Merchant webhook URLs' accounts, per process: {(provider, token): (loaded at, account)}.
# The account query (and decrypting its settings) was a third of a webhook's CPU. A save
# or delete of an account clears this process's copy at once (accounts_forget, wired
# in kyc.apps); other processes see the change within WEBHOOK_ACCOUNT_CACHE_SECONDS.
# Only accounts that exist are kept: a new account is never "unknown" from a cache.
_accounts: dict[tuple[str, str], tuple[float, Any]] = {}
_ACCOUNTS_MAX = 1000


def accounts_forget(**_: Any) -> None:
    """Drop every cached account (signal receiver: post_save/post_delete of accounts)."""
    _accounts.clear()


def _account(*, provider: str, token: str) -> Any:
    from kyc.models import ProviderAccount

    ttl = float(getattr(settings, "WEBHOOK_ACCOUNT_CACHE_SECONDS", 0) or 0)
    now = time.monotonic()
    cached = _accounts.get((provider, token)) if ttl > 0 else None
    if cached is not None and now - cached[0] < ttl:
        # A copy per delivery: nothing a request sets on it reaches the next one.
        return copy.copy(cached[1])
    # `state` (encrypted, cached provider tokens) is not needed to receive a delivery.
    account = (
        ProviderAccount.objects.defer("state")
        .filter(webhook_token=token, provider=provider)
        .first()
    )
    if account is not None and ttl > 0:
        if len(_accounts) >= _ACCOUNTS_MAX:
            _accounts.clear()
        _accounts[(provider, token)] = (now, copy.copy(account))
    return account


def _resolve(*, provider: str, token: str, per_request: bool, lock: bool) -> Sender:
    """The token's account (cached, see _account) or request: at most one query (locking
    the request row when `lock`)."""
    from kyc import prepared

    sender = Sender(provider=provider, token=token)
    if per_request:
        # SQL built once per process (kyc.prepared): compiling this three-table read
        # cost a callback more CPU than running it.
        sender.transfer = prepared.callback_transfer(token=token, provider=provider, lock=lock)
    else:
        sender.account = _account(provider=provider, token=token)
    return sender


def _unknown_within_limits(request: HttpRequest, *, route: str, token: str) -> bool:
    """Per sender address, and per token like known tokens get, so neither a spray of
    random tokens nor one repeated token is stored more than a few times a minute."""
    per_token = settings.WEBHOOK_RATE_LIMIT_PER_MINUTE
    results = [
        ratelimit.hit(
            f"hook-unknown:{remote_addr(request) or '-'}",
            limit=settings.UNKNOWN_HOOK_RATE_LIMIT_PER_MINUTE,
        ),
        *([ratelimit.hit(f"hook-unknown:{route}:{token}", limit=per_token)] if token else []),
    ]
    return all(results)


def _keep_unknown(request: HttpRequest, sender: Sender) -> None:
    """Metadata of a post to an unknown hook URL; its body is never read."""
    from kyc import services
    from kyc.models import InboundEvent

    headers = headers_of(request)
    services.inbound_store(
        provider=sender.provider[:20],
        path=request.path,
        headers={k: headers[k][:_HEADER_CHARS] for k in _KEPT_HEADERS if k in headers},
        body=None,
        remote_addr=remote_addr(request),
        state=InboundEvent.State.REFUSED,
        error=f"unknown token; body of {declared_length(request)} bytes not kept",
    )
    sender.stored = True


def _keep(
    request: HttpRequest, sender: Sender, *, body: bytes | None, kind: str, **fields: Any
) -> None:
    """Store what the URL's sender posted as it arrived (state and error in `fields`)."""
    from kyc import services

    services.inbound_store(
        provider=sender.provider[:20],
        path=request.path,
        headers=headers_of(request),
        body=body,
        remote_addr=remote_addr(request),
        kind=kind,
        account=sender.account,
        transfer=sender.transfer,
        **fields,
    )
    sender.stored = True


def _keep_refusal(
    request: HttpRequest, sender: Sender, reason: str, *, body: bytes | None, kind: str = ""
) -> None:
    from kyc.models import InboundEvent

    _keep(
        request, sender, body=body, kind=kind, state=InboundEvent.State.REFUSED, error=reason[:2000]
    )


def _response_reason(response: HttpResponse) -> str:
    reason = ""
    try:
        data = json.loads(response.content)
        if isinstance(data, dict):
            reason = str(data.get("message") or data.get("msg") or data.get("detail") or "")
    except ValueError:
        reason = response.content[:200].decode("utf-8", "replace")
    return f"{response.status_code} {reason}".strip()


def _body_if_readable(request: HttpRequest) -> bytes | None:
    try:
        return request.body
    except Exception:  # the view consumed the stream itself
        return None


def _too_many(window: int = 60) -> HttpResponse:
    response = answer(429, "Too many deliveries for this endpoint; retry later.")
    response["Retry-After"] = str(window)
    return response


def inbound(
    *,
    provider: str,
    per_request: bool = False,
    methods: Iterable[str] = ("POST",),
    atomic: bool = False,
    quiet: bool = False,
    kind: str = "",
    url_kwarg: str = "token",
) -> Callable[[View], View]:
    """The guards of an inbound endpoint (see the module docstring), outermost first.

    per_request: the URL carries one request's callback token, not an account's.
    atomic: guards, store and apply are one transaction (the request row locked).
    quiet: the URL's token must never reach a log line (Django's request logger
    prints the path of every 4xx/5xx): no 500, one line without the path instead.
    kind: what this endpoint receives, for deliveries kept before the view runs.
    """
    allowed = tuple(m.upper() for m in methods)

    def decorate(view: View) -> View:
        limit_name = f"hook:{view.__module__}.{view.__name__}"
        route = f"hooks/{provider}/{'t/' if per_request else ''}"

        def guarded(
            request: HttpRequest, token: str, args: Any, kwargs: Any, batch: Any
        ) -> HttpResponse:
            response: HttpResponse
            sender = _resolve(provider=provider, token=token, per_request=per_request, lock=atomic)
            request.inbound = sender  # type: ignore[attr-defined]
            if not sender.known:
                if not _unknown_within_limits(request, route=route, token=token):
                    response = answer(429, "Too many requests to unknown URLs; retry later.")
                    response["Retry-After"] = "60"
                    return response
                _keep_unknown(request, sender)
                return answer(404, "unknown webhook URL")
            bucket = f"{limit_name}:{token}"
            if ratelimit.seen_over(bucket, limit=settings.WEBHOOK_RATE_LIMIT_PER_MINUTE):
                return _too_many()
            # Counted when the request ends, with its hand-over flag (wrapper: together).
            batch.hit(bucket)
            declared = declared_length(request)
            if declared > settings.MAX_BODY_BYTES:
                limit = settings.MAX_BODY_BYTES
                _keep_refusal(
                    request,
                    sender,
                    f"body of {declared} bytes refused unread (limit {limit})",
                    body=None,
                    kind=kind,
                )
                return answer(413, f"Body too large: the limit is {limit} bytes.")
            if request.method not in allowed:
                response = answer(405, f"only {', '.join(allowed)}")
                response["Allow"] = ", ".join(allowed)
            else:
                try:
                    response = view(request, *args, token=token, **kwargs)
                except Http404 as exc:  # a short JSON answer, kept like any other refusal
                    response = answer(404, str(exc) or "Not found.")
            if 400 <= response.status_code < 500 and response.status_code != 429:
                if not sender.stored:
                    body = sender.body if sender.body is not None else _body_if_readable(request)
                    _keep_refusal(request, sender, _response_reason(response), body=body, kind=kind)
            return response

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            token = str(kwargs.pop(url_kwarg, "") or "")
            try:
                # The delivery's rate-limit count and the flags its commit raises: one
                # Redis round trip when the block ends, after the commit.
                with queued.together() as batch:
                    if atomic:
                        with transaction.atomic():
                            response = guarded(request, token, args, kwargs, batch)
                    else:
                        response = guarded(request, token, args, kwargs, batch)
            except (OperationalError, InterfaceError) as exc:
                response = database_unavailable(exc)
            except Exception:
                if not (atomic or quiet):
                    raise
                response = _failed(request, provider=provider, kind=kind, token=token)
            if quiet:
                if response.status_code >= 400:
                    log.warning("%s %s delivery answered %s", provider, kind, response.status_code)
                # Django's log_response skips responses already logged.
                response._has_been_logged = True  # type: ignore[attr-defined]
            return response

        wrapper.inbound_guarded = True  # type: ignore[attr-defined]
        return sessionless(csrf_exempt(wrapper))

    return decorate


def _failed(request: HttpRequest, *, provider: str, kind: str, token: str) -> HttpResponse:
    """Applying raised (its transaction rolled back): log it without the token, keep the
    delivery RECEIVED for the sweeper, answer 503 so the sender retries too."""
    trace = logging.Formatter().formatException(sys.exc_info())
    if token:
        trace = trace.replace(token, "[token]")
    log.error("%s %s delivery failed\n%s", provider, kind, trace)
    sender = getattr(request, "inbound", None)
    if isinstance(sender, Sender) and sender.known:
        body = sender.body if sender.body is not None else _body_if_readable(request)
        try:
            _keep(
                request,
                sender,
                body=body,
                kind=kind,
                error="could not process on arrival; the sweeper retries",
            )
        except (OperationalError, InterfaceError) as exc:
            return database_unavailable(exc)
    return answer(503, "could not process now, retry later")


# --- receive --------------------------------------------------------------------------


def _store(request: HttpRequest, delivery: Delivery, verdict: Verdict) -> tuple[Any, Any]:
    from kyc import services

    sender = sender_of(request)
    event, original = services.inbound_store(
        provider=delivery.provider,
        path=delivery.path,
        headers=delivery.headers,
        body=delivery.body,
        remote_addr=delivery.remote_addr,
        kind=verdict.kind or delivery.kind,
        dedupe_key=verdict.dedupe_key,
        account=delivery.account,
        transfer=verdict.transfer or delivery.transfer,
        state=verdict.state,
        error=verdict.error,
        verified=verdict.verified,
        attempts=1 if verdict.apply else 0,  # processed on arrival, in this transaction
    )
    sender.stored = True
    return event, original


def receive(request: HttpRequest, *, kind: str = "") -> HttpResponse:
    """Receive one delivery for the provider the guards resolved (module docstring)."""
    sender = sender_of(request)
    provider = registry.get(sender.provider)
    headers = headers_of(request)
    try:
        body = read_body(request)
    except BodyTooLarge as exc:  # no (or a false) Content-Length: stopped while reading
        _keep_refusal(request, sender, str(exc), body=None, kind=kind)
        return answer(413, "body too large")
    sender.body = body
    delivery = Delivery(
        provider=sender.provider,
        kind=kind,
        path=request.path,
        headers=headers,
        body=body,
        remote_addr=remote_addr(request),
        account=sender.account if sender.account is not None else _account_of(sender),
        transfer=sender.transfer,
    )
    verdict = provider.inbound_check(delivery)
    event, original = _store(request, delivery, verdict)
    if original is not None:
        provider.inbound_duplicate(original_id=original.pk, original_state=original.state)
        return answer(200, verdict.duplicate_message)
    if verdict.apply:
        verdict = provider.inbound_apply(event=event, delivery=delivery, verdict=verdict)
    if verdict.process:
        provider.inbound_received(event_id=event.pk)
    return answer(verdict.status, verdict.message)


def _account_of(sender: Sender) -> Any:
    return sender.transfer.account if sender.transfer is not None else None


def webhook_view(provider: str) -> View:
    """`/hooks/<provider>/<webhook token>/` for a provider that has no URLs of its own but
    implements Provider.inbound_check (kyc/urls.py mounts it): the same guards, the same
    receive, nothing written by the provider but its check."""

    def webhook(request: HttpRequest, token: str) -> HttpResponse:
        return receive(request)

    webhook.__name__ = webhook.__qualname__ = f"{provider}_webhook"
    return inbound(provider=provider)(webhook)
