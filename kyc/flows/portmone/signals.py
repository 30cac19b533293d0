"""Two moments the foundation does not call a flow for, caught with signals:

- a Portmone TransferRequest was created: start its status-poll chain once the
  row is committed (transfer_create has no per-flow "started" hook);
- a Portmone request failed because Portmone refused the partner credentials
  (also when that happens inside transfer_create): say so on the settings page.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from kyc.models import TransferEvent, TransferRequest
from providers.errors import AuthenticationError

PROVIDER = "portmone"


def _on_transfer_saved(sender: Any, instance: TransferRequest, created: bool, **kw: Any) -> None:
    if not created or instance.provider != PROVIDER or kw.get("raw"):
        return
    from kyc.flows.portmone import tasks

    pk = str(instance.pk)
    transaction.on_commit(lambda: tasks.start_polling(pk))


def _on_event_saved(sender: Any, instance: TransferEvent, created: bool, **kw: Any) -> None:
    if not created or kw.get("raw") or instance.kind != "error":
        return
    t = instance.transfer
    if t.provider != PROVIDER or t.failure_code != AuthenticationError.code:
        return
    from kyc.flows.portmone import services

    services.account_auth_failed(account_id=t.account_id, message=t.status_detail)


def connect() -> None:
    post_save.connect(_on_transfer_saved, sender=TransferRequest, dispatch_uid="portmone-start")
    post_save.connect(_on_event_saved, sender=TransferEvent, dispatch_uid="portmone-auth-error")
