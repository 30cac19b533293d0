"""What a customer page poll may trigger: for providers without callbacks
(poll_on_page), at most one provider check per few seconds per request."""

from __future__ import annotations

from django.core.cache import cache

from kyc import registry

CHECK_EVERY_SECONDS = 5


def on_poll(*, token: str, provider: str, terminal: bool) -> None:
    if terminal:
        return
    found = registry.find(provider)
    if found is None or not found.poll_on_page:
        return
    # cache.add is atomic: only one poll in each window wins the right to enqueue.
    try:
        if not cache.add(f"poll-check:{token}", 1, CHECK_EVERY_SECONDS):
            return
    except Exception:  # cache down: skip the check; reconcile() still runs from beat
        return
    found.check_on_page_poll(page_token=token)
