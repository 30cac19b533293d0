"""Blockpass as the core sees it: the one class the core talks to (settings form,
connection test, stored webhooks, reconcile, erasure, the webhook and the app's merchant
API URLs). Blockpass starts nothing: its app calls the merchant's endpoints and later
resolves certificate promises (see services/).

The services import this module (the requirements), so the hooks below import services
when they run, never at module level.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils import timezone

from kyc.contract import Delivery, Provider, Verdict
from kyc.errors import AuthenticationError, PermanentError, ProviderError
from providers.blockpass import client
from providers.blockpass.forms import BlockpassSettingsForm, slugs

# A code Blockpass never issued: generating a token with it tells us whether the
# credentials are accepted (401/403) without creating anything.
PROBE_CODE = "portal-connection-test"


class BlockpassProvider(Provider):
    name: ClassVar[str] = "blockpass"
    label: ClassVar[str] = "Blockpass"
    starts_transfers: ClassVar[bool] = False
    form_class = BlockpassSettingsForm
    urls = "providers.blockpass.urls"
    sandbox = "providers.blockpass.sandbox"
    review_resubmit = True  # the app re-uploads the items staff asked for

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        return {
            "api_url": sandbox_url.rstrip("/"),
            "client_id": "demo_service",
            "client_secret": "demo-client-secret",
            "webhook_secret": "demo-webhook-secret",
            "allow_cert_promise": True,
            "required_fields": "email,given_name,family_name",
            "optional_fields": "phone",
            "certificates": "onfido-service-cert",
        }

    def sandbox_console(self, *, settings: dict[str, Any], webhook_url: str) -> None:
        from providers.blockpass import sandbox

        sandbox.service_configure(
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
            webhook_secret=settings["webhook_secret"],
            merchant_url=webhook_url,
        )

    def test_connection(self, *, settings: dict[str, Any], state: dict[str, Any]) -> str:
        for key in ("api_url", "client_id", "client_secret"):
            if not settings.get(key):
                raise PermanentError(f"{key} is not set", code="not_configured")
        try:
            client.token_generate(
                api_url=settings["api_url"],
                client_id=settings["client_id"],
                client_secret=settings["client_secret"],
                code=PROBE_CODE,
                now=timezone.now(),
            )
        except AuthenticationError as exc:
            raise AuthenticationError(
                f"Blockpass answered {exc.status} to a token request: the client id or "
                "secret is probably wrong.",
                status=exc.status,
                detail=exc.detail,
            ) from None
        except PermanentError as exc:
            if exc.status is None or exc.status < 400:
                raise  # refused by the portal, a redirect or a non-JSON answer: no proof
            # Refusing an unknown code (not the credentials) is the expected answer.
            return "Blockpass answered and did not refuse the client credentials."
        except ProviderError:
            raise
        return "Blockpass answered."

    def describe_state(self, *, state: dict[str, Any]) -> list[tuple[str, str]]:
        info = state.get("service_info") or {}
        lines: list[tuple[str, str]] = []
        if info:
            lines.append(("Service info updated", str(info.get("updated_at", ""))))
            lines.append(("Blockpass environment", str(info.get("env", ""))))
        return lines

    @staticmethod
    def requirements(settings: dict[str, Any]) -> dict[str, list[str]]:
        return {
            "requiredFields": slugs(settings.get("required_fields")),
            "optionalFields": slugs(settings.get("optional_fields")),
            "certs": slugs(settings.get("certificates")),
        }

    def inbound_check(self, delivery: Delivery) -> Verdict:
        from providers.blockpass import services

        return services.webhook_check(delivery)

    def inbound_received(self, *, event_id: int) -> None:
        from providers.blockpass import services

        services.enqueue_process(event_id)

    def inbound_duplicate(self, *, original_id: int, original_state: str) -> None:
        from providers.blockpass import services

        services.webhook_duplicate(original_id=original_id, original_state=original_state)

    def process_delivery(self, *, event_id: int) -> bool:
        from providers.blockpass import services

        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        from providers.blockpass import services

        return services.reconcile()

    def record_erased(self, *, record_id: int) -> None:
        from providers.blockpass import services

        services.record_reference_forget(record_id=record_id)
