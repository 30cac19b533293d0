"""Who may do what inside a merchant: the one permission table.

Every merchant page (portal/views.py, providers/<name>/views.py), every
admin model and admin action, and the API-key page ask this module; nothing else reads
`Membership.role`. A role is per merchant (one membership per user and merchant).

| Role       | May                                                                         |
|------------|-----------------------------------------------------------------------------|
| owner      | everything below (as the merchant's account holder); reveal still needs the |
|            | `kyc.reveal_pii` permission                                                 |
| admin      | provider settings, API keys, members (not owners), merchant settings,       |
|            | start verifications and issuance runs, retry failed work, read masked data  |
| compliance | review (approve/reject), reveal PII (with `kyc.reveal_pii`), erase, retry   |
|            | failed work, export the audit trail, read masked data                       |
| viewer     | read masked data only                                                       |

Superusers are the operators of the portal, not a merchant's staff: they act as an owner
of every merchant (they can already read everything through the shell). A few admin
operations are closed to them too (see `Gate`): append-only history is never deleted.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from kyc import selectors
from kyc.models import Membership, Merchant

Role = Membership.Role

# The Django permission a user needs on top of a role that allows revealing PII.
REVEAL_PERMISSION = "kyc.reveal_pii"


class Action(enum.StrEnum):
    VIEW = "view"  # read masked data: dashboard, requests, records, runs, members
    REVEAL_PII = "reveal_pii"  # see one decrypted identity value (audited)
    REVIEW = "review"  # approve / reject requests, fields and certificates
    ERASE = "erase"  # erase a customer's personal data now
    RETRY = "retry"  # re-run failed deliveries and certificate pulls
    START_VERIFICATION = "start_verification"  # may cost money at the provider
    START_ISSUANCE = "start_issuance"  # start or resume a certificate issuance run
    MANAGE_PROVIDER_SETTINGS = "manage_provider_settings"  # accounts, secrets, webhook URLs
    MANAGE_API_KEYS = "manage_api_keys"  # mint, rename and revoke API keys
    MANAGE_MEMBERS = "manage_members"  # add, change, remove memberships
    MANAGE_MERCHANT = "manage_merchant"  # name, retention period, branding (portal/branding.py)
    EXPORT_AUDIT = "export_audit"  # download the audit trail (the export is audited)


LABELS: dict[Action, str] = {
    Action.VIEW: "read this merchant's (masked) data",
    Action.REVEAL_PII: "reveal personal data",
    Action.REVIEW: "review verifications",
    Action.ERASE: "erase personal data",
    Action.RETRY: "retry failed deliveries and pulls",
    Action.START_VERIFICATION: "start verifications",
    Action.START_ISSUANCE: "start or resume issuance runs",
    Action.MANAGE_PROVIDER_SETTINGS: "manage provider settings",
    Action.MANAGE_API_KEYS: "manage API keys",
    Action.MANAGE_MEMBERS: "manage members",
    Action.MANAGE_MERCHANT: "change the merchant's settings",
    Action.EXPORT_AUDIT: "export the audit trail",
}

_READ = frozenset({Action.VIEW})
_COMPLIANCE = _READ | {
    Action.REVIEW,
    Action.REVEAL_PII,
    Action.ERASE,
    Action.RETRY,
    Action.EXPORT_AUDIT,
}
_ADMIN = _READ | {
    Action.MANAGE_PROVIDER_SETTINGS,
    Action.MANAGE_API_KEYS,
    Action.MANAGE_MEMBERS,
    Action.MANAGE_MERCHANT,
    Action.START_VERIFICATION,
    Action.START_ISSUANCE,
    Action.RETRY,
}

# THE table. A role that is not here (or no membership at all) may do nothing.
ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ADMIN: _ADMIN,
    Role.COMPLIANCE: _COMPLIANCE,
    Role.VIEWER: _READ,
}


class Gate(enum.StrEnum):
    """Admin operations that no merchant role opens."""

    NOBODY = "nobody"  # not even a superuser: append-only history (deliveries, events, audit)
    OPERATOR = "operator"  # superusers only, e.g. adding or deleting merchants


Rule = Action | Gate


def _roles(user: Any) -> dict[int, str]:
    """merchant id -> role, loaded once per user object (Django loads the user per request)."""
    cached: dict[int, str] | None = getattr(user, "_kyc_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("merchant_id", "role"))
        user._kyc_roles = cached
    return cached


def _active(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def role_for(user: Any, merchant: Merchant | int | None) -> str | None:
    """The user's role at this merchant; superusers act as owners; None: no role there."""
    if merchant is None or not _active(user):
        return None
    if user.is_superuser:
        return Role.OWNER
    merchant_id = merchant if isinstance(merchant, int) else merchant.pk
    return _roles(user).get(merchant_id)


def _role_allows(role: str | None, action: Action) -> bool:
    return role is not None and action in ROLE_ACTIONS.get(role, frozenset())


def _extra_permission_ok(user: Any, action: Action) -> bool:
    # Revealing PII needs both the role and the explicit Django permission.
    return action is not Action.REVEAL_PII or user.has_perm(REVEAL_PERMISSION)


def can(user: Any, merchant: Merchant | int | None, action: Action) -> bool:
    """May this user do `action` at this merchant?"""
    return _role_allows(role_for(user, merchant), action) and _extra_permission_ok(user, action)


def merchants_where(user: Any, action: Action) -> list[int]:
    """Ids of the merchants at which the user may do `action` (every merchant for superusers)."""
    if not _active(user):
        return []
    if user.is_superuser:
        return selectors.merchant_ids_for_user(user)
    if not _extra_permission_ok(user, action):
        return []
    return sorted(m for m, role in _roles(user).items() if _role_allows(role, action))


def can_anywhere(user: Any, action: Action) -> bool:
    """May the user do `action` at one merchant at least (the admin's "any object" question)?"""
    if not _active(user):
        return False
    if user.is_superuser:
        return True
    return _extra_permission_ok(user, action) and any(
        _role_allows(role, action) for role in _roles(user).values()
    )


def allows(user: Any, rule: Rule, merchant: Merchant | int | None = None) -> bool:
    """An admin rule: a Gate, or an Action at `merchant` (None: at any of the user's merchants)."""
    if rule is Gate.NOBODY:
        return False
    if rule is Gate.OPERATOR:
        return _active(user) and bool(user.is_superuser)
    if merchant is None:
        return can_anywhere(user, rule)
    return can(user, merchant, rule)


def roles_allowed(action: Action) -> list[str]:
    return [Role(r).label for r, actions in ROLE_ACTIONS.items() if action in actions]


def primary_merchant(user: Any) -> Merchant | None:
    """The merchant the portal pages act for: the user's first (lowest id) merchant."""
    if not hasattr(user, "_kyc_primary"):
        user._kyc_primary = selectors.merchants_for_user(user).order_by("pk").first()
    return user._kyc_primary


def current_merchant(request: HttpRequest) -> Merchant:
    """The merchant a merchant page acts for (portal's and providers' own pages alike)."""
    merchant = primary_merchant(request.user)  # the merchant @require checked the role at
    if merchant is None:
        raise Http404("Your user belongs to no merchant yet; ask an owner to add you.")
    return merchant


def forbidden(request: HttpRequest, merchant: Merchant | None, action: Action) -> HttpResponse:
    """403 with a page that says which role is needed; it names no object and changes nothing."""
    role = role_for(request.user, merchant)
    return render(
        request,
        "portal/forbidden.html",
        {
            "merchant": merchant,
            "role": Role(role).label if role else "none",
            "action": LABELS[action],
            "allowed": roles_allowed(action),
            "needs_reveal_permission": action is Action.REVEAL_PII,
        },
        status=403,
    )


def require(action: Action) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A merchant page needing `action` at the user's merchant: 403 page otherwise.

    Put it under @login_required. The check runs before the view reads its input,
    so a refused request has no side effect.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            merchant = primary_merchant(request.user)
            if merchant is None:
                raise Http404("Your user belongs to no merchant yet; ask an owner to add you.")
            if not can(request.user, merchant, action):
                return forbidden(request, merchant, action)
            return view(request, *args, **kwargs)

        wrapper.required_action = action  # type: ignore[attr-defined]
        return wrapper

    return decorator


def actions_for(user: Any, merchant: Merchant | None) -> set[str]:
    """Every action the user may do at the merchant, for templates that hide controls."""
    return {a.value for a in Action if can(user, merchant, a)}
