"""Create (once) a demo merchant, its owner, an API key and every provider account
configured against the built-in sandbox. Running it again creates nothing new."""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

from kyc import registry, services
from kyc.models import ApiKey, Membership, Merchant, ProviderAccount

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"
STAFF_GROUP = "Merchant staff"


DEMO_KEY_NAME = "demo key"


def demo_key_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-api-key"


def demo_api_key(*, merchant: Merchant, user: Any) -> str:
    """The demo merchant's API key: random like any other key (never derived from
    something public such as the development SECRET_KEY), created once. Its plaintext
    is kept in var/demo-api-key (0600, in the private var/) so every `make run` can
    print it; "" when the key was created elsewhere and its plaintext is not at hand."""
    # Keys of earlier versions were derived from the public development SECRET_KEY.
    for legacy in ApiKey.objects.filter(prefix="demo0000", revoked_at__isnull=True):
        services.api_key_revoke(key=legacy, actor=user)
    path = demo_key_file()
    saved = path.read_text().strip() if path.exists() else ""
    active = ApiKey.objects.filter(merchant=merchant, name=DEMO_KEY_NAME, revoked_at__isnull=True)
    if saved and active.filter(hashed=hashlib.sha256(saved.encode()).hexdigest()).exists():
        return saved
    if active.exists():
        return ""
    _, raw = services.api_key_create(merchant=merchant, name=DEMO_KEY_NAME, created_by=user)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(raw)
    return raw


def staff_group() -> Group:
    """What every merchant's staff member needs in the admin: to see the kyc models and
    to use the admin operations some role may use. The role at each merchant
    (kyc.permissions) decides what the person may really do there; `reveal_pii` is
    never in the group, it is granted person by person."""
    from kyc.admin.site import staff_permissions

    group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    wanted = staff_permissions()
    perms = [
        p
        for p in Permission.objects.filter(
            content_type__app_label__startswith="kyc"
        ).select_related("content_type")
        if (p.content_type.app_label, p.codename) in wanted
    ]
    group.permissions.set(perms)
    return group


def sandbox_hints() -> list[str]:
    """What each sandbox module offers a newcomer (its optional `demo_hint()`, e.g. the
    CorePass sandbox's sample CoreID), found through the registry, never by import."""
    hints = []
    for provider in registry.providers():
        if not provider.sandbox:
            continue
        hint = getattr(importlib.import_module(provider.sandbox), "demo_hint", None)
        if callable(hint):
            hints.append(str(hint()))
    return hints


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
        # The demo owner shows the audited reveal too: the one permission not in the group.
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="kyc", codename="reveal_pii")
        )
        Membership.objects.get_or_create(
            user=user, merchant=merchant, defaults={"role": Membership.Role.OWNER}
        )

        raw = demo_api_key(merchant=merchant, user=user) or (
            "created on an earlier run; make a new one on the API keys page"
        )

        for name in registry.names():
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
        if settings.SANDBOX:
            self.stdout.write(f"Sandboxes: {settings.PUBLIC_URL}/sandbox/\n")
            for hint in sandbox_hints():
                self.stdout.write(hint + "\n")
