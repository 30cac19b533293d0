"""Print a one-time authenticator setup code for a user (the first superuser of a new
deployment has nobody to issue one in the admin)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kyc.services.setup_codes import setup_code_hours, staff_setup_code_issue


class Command(BaseCommand):
    help = "Issue a one-time authenticator setup code for USERNAME and print it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        code = staff_setup_code_issue(user=user)
        self.stdout.write(
            f"Setup code for {username}: {code} (sets up one authenticator, within "
            f"{setup_code_hours()} hours; give it to them apart from their password)"
        )
