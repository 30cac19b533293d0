"""What a customer page poll may trigger: for providers without callbacks
(poll_on_page), at most one provider check per few seconds per request."""

from __future__ import annotations

import importlib

from django.core.cache import cache

from providers import registry

CHECK_EVERY_SECONDS = 5


def on_poll(*, token: str, provider: str, terminal: bool) -> None:
    if terminal:
        return
    adapter = registry.get(provider)
    if not getattr(adapter, "poll_on_page", False):
        return
    # cache.add is atomic: only one poll in each window wins the right to enqueue.
    try:
        if not cache.add(f"poll-check:{token}", 1, CHECK_EVERY_SECONDS):
            return
    except Exception:  # cache down: skip the check; reconcile() still runs from beat
        return
    tasks = importlib.import_module(f"kyc.flows.{provider}.tasks")
    tasks.check_transfer_by_page_token.delay(token)
