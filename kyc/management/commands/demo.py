"""Create (once) a demo merchant, its owner, an API key and every provider account
configured against the built-in sandbox. Running it again creates nothing new."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

from kyc import services
from kyc.models import ApiKey, Membership, Merchant, ProviderAccount
from providers import registry

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"
STAFF_GROUP = "Merchant staff"


def demo_api_key() -> str:
    """Stable per installation (derived from SECRET_KEY), so every run prints the same key."""
    secret = hmac.new(settings.SECRET_KEY.encode(), b"demo-api-key", hashlib.sha256).hexdigest()[
        :40
    ]
    return f"kp_demo0000_{secret}"


def staff_group() -> Group:
    group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    # kyc and every per-provider flow app (labels kyc_<provider>).
    perms = Permission.objects.filter(content_type__app_label__startswith="kyc")
    group.permissions.set(perms)
    return group


class Command(BaseCommand):
    help = "Create the demo merchant, owner, API key and sandbox provider accounts (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        merchant, _ = Merchant.objects.get_or_create(slug="demo", defaults={"name": "Demo Shop"})
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_USER, defaults={"is_staff": True, "email": "demo@example.com"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(staff_group())
        Membership.objects.get_or_create(
            user=user, merchant=merchant, defaults={"role": Membership.Role.OWNER}
        )

        raw = demo_api_key()
        if not ApiKey.objects.filter(prefix="demo0000").exists():
            services.api_key_create(merchant=merchant, name="demo key", created_by=user, raw=raw)

        for name in registry.PROVIDERS:
            adapter = registry.get(name)
            account, _ = ProviderAccount.objects.get_or_create(merchant=merchant, provider=name)
            sandbox = adapter.sandbox_settings(sandbox_url=f"{settings.PUBLIC_URL}/sandbox/{name}/")
            if account.settings != {**account.settings, **sandbox} or not account.enabled:
                services.provider_account_update(
                    account=account,
                    settings_={**account.settings, **sandbox},
                    enabled=True,
                    actor=user,
                )
            if settings.SANDBOX:
                adapter.sandbox_console(
                    settings=account.settings,
                    webhook_url=f"{settings.PUBLIC_URL}/hooks/{name}/{account.webhook_token}/",
                )
        self.stdout.write(
            f"Demo ready: {settings.PUBLIC_URL}/  login {DEMO_USER} / {DEMO_PASSWORD}\n"
            f"API key: {raw}\n"
        )
