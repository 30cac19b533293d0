"""Staff authenticators in the admin: superusers see who has one and delete a lost one, and
issue the one-time setup code a person needs to set up a new one (or their first) at their
next sign-in. The secret is never shown; a setup code only once, to the superuser."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from kyc.models import StaffTOTPDevice
from kyc.services.setup_codes import setup_code_hours, staff_setup_code_issue


@admin.register(StaffTOTPDevice)
class StaffTOTPDeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__username", "user__email"]
    fields = readonly_fields = ("user", "name", "confirmed", "created_at", "last_used_at")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a device is set up by its owner, scanning the QR code

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)


# --- setup codes: issued from the users' list, shown once on the page the action answers --

User = get_user_model()


class StaffUserAdmin(UserAdmin):
    """Django's user admin, plus the action that issues authenticator setup codes."""

    actions = ["issue_setup_code"]  # Django's own UserAdmin has none; delete comes from the site

    @admin.action(description="Issue an authenticator setup code")
    def issue_setup_code(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        if not (request.user.is_active and request.user.is_superuser):
            self.message_user(request, "Only superusers issue setup codes.", messages.ERROR)
            return None
        issued = [
            (user, staff_setup_code_issue(user=user, actor=request.user))
            for user in queryset.order_by("username")
        ]
        # A page of its own, never cached: the codes are not put into a message (a cookie).
        response = render(
            request,
            "admin/kyc/setup_codes_issued.html",
            {
                **self.admin_site.each_context(request),
                "title": "Authenticator setup codes",
                "issued": issued,
                "hours": setup_code_hours(),
                "opts": self.model._meta,
            },
        )
        add_never_cache_headers(response)
        return response


admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
