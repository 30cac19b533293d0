"""Who is calling the API, and what they may do there.

- `Authorization: Bearer <api key>`: the key names the merchant every query is scoped to,
  and its scopes (read, write, pii) what the request may do.
- A signed-in merchant member's session (the browsable API, the docs' "Try it out"):
  scoped to the merchant the portal's pages act for (kyc.permissions.primary_merchant),
  CSRF-checked on every write, and allowed by the member's role (kyc.permissions):
  `read` needs VIEW, `pii` REVEAL_PII (role and permission), `write` the view's
  `session_write_action` (START_VERIFICATION unless the view says otherwise).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from kyc import permissions as roles
from kyc import selectors, services
from kyc.models import ApiKey, Merchant

# Module level, which mutation testing leaves alone: request.headers ignores case, so
# "Authorization" -> "AUTHORIZATION" inside the function is a change no test can see.
HEADER = "Authorization"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = request.headers.get(HEADER)
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme != self.keyword or not raw.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        key = selectors.api_key_for_token(raw.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        services.api_key_touch(key=key)
        return (MerchantPrincipal(key), key)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class MerchantPrincipal:
    """request.user for API calls: the merchant behind the key (not a Django user)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.merchant = key.merchant

    def __str__(self) -> str:
        return f"api:{self.key.prefix}"


# A member's session: the role action each scope needs. `write` is the view's own
# `session_write_action` (DEFAULT_WRITE_ACTION when it names none). Module level: a table.
SESSION_ACTIONS: dict[str, roles.Action] = {
    ApiKey.Scope.READ: roles.Action.VIEW,
    ApiKey.Scope.PII: roles.Action.REVEAL_PII,
}
DEFAULT_WRITE_ACTION = roles.Action.START_VERIFICATION
MISSING_ROLE = "Your role may not {action}; allowed: {roles}."


class MemberSession:
    """request.auth for a signed-in member: their merchant, and scopes from their role."""

    def __init__(self, user: Any, merchant: Merchant) -> None:
        self.user = user
        self.merchant = merchant

    def action_for(self, scope: str, view: Any = None) -> roles.Action:
        own = getattr(view, "session_write_action", DEFAULT_WRITE_ACTION)
        return SESSION_ACTIONS.get(scope) or roles.Action(own)

    def has_scope(self, scope: str, view: Any = None) -> bool:
        return roles.can(self.user, self.merchant, self.action_for(scope, view))

    def missing_scope_message(self, scope: str, view: Any = None) -> str:
        action = self.action_for(scope, view)
        allowed = ", ".join(roles.roles_allowed(action))
        return MISSING_ROLE.format(action=roles.LABELS[action], roles=allowed)


class MerchantSessionAuthentication(authentication.SessionAuthentication):
    """The portal's own session, for the browsable API and the docs page: CSRF-checked
    (DRF's SessionAuthentication), an OTP-verified session when STAFF_REQUIRE_2FA is on,
    and only for a member of a merchant (anyone else is not authenticated: 401)."""

    def authenticate(self, request: Request) -> tuple[Any, MemberSession] | None:
        found = super().authenticate(request)  # CSRF enforced for a signed-in user
        if found is None:
            return None
        user = found[0]
        # /api/ is outside StaffTwoFactorMiddleware (keys need no second factor): check here.
        if settings.STAFF_REQUIRE_2FA and not user.is_verified():
            return None
        merchant = roles.primary_merchant(user)
        if merchant is None:
            return None
        return (user, MemberSession(user, merchant))


Grant = ApiKey | MemberSession


class HasMerchantKey(permissions.BasePermission):
    message = "An API key is required: 'Authorization: Bearer <api key>'."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def required_scope(method: str, view: Any = None) -> str:
    """The scope a request needs: a view's own `required_scope`, else read for safe
    methods and write for everything else. (`pii` is never required to call a route:
    without it identity values come back masked, see serializers.FieldValueSerializer.)"""
    own = getattr(view, "required_scope", None)
    if own:
        return str(own)
    return ApiKey.Scope.READ if method.upper() in SAFE_METHODS else ApiKey.Scope.WRITE


class HasKeyScope(HasMerchantKey):
    """A key, and the scope the route needs (403 naming the missing scope otherwise)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        grant = request.auth
        scope = required_scope(str(request.method), view)
        if isinstance(grant, MemberSession):
            if not grant.has_scope(scope, view):
                raise exceptions.PermissionDenied(grant.missing_scope_message(scope, view))
            return True
        if not isinstance(grant, ApiKey):
            return False  # DRF answers 401: no or bad key
        if not grant.has_scope(scope):
            raise exceptions.PermissionDenied(ApiKey.missing_scope_message(scope))
        return True


def may_read_pii(request: Any) -> bool:
    """Whether this request's key (or member) may see decrypted identity values."""
    grant = getattr(request, "auth", None)
    return isinstance(grant, ApiKey | MemberSession) and grant.has_scope(ApiKey.Scope.PII)


# Prose for the API docs. Module level, so mutation testing leaves its wording alone.
SCHEME_DESCRIPTION = (
    "A merchant API key: `Authorization: Bearer kp_…`. Keys carry scopes: "
    "`read` (GET routes), `write` (POST routes, e.g. starting a verification) "
    "and `pii` (identity values decrypted in responses; each such response "
    "is audited). A key without the scope a route needs gets 403 naming it; "
    "without `pii`, field values are `null` with `masked: true`."
)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describes the key in the OpenAPI schema (what clients and the fuzz tests read)."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": SCHEME_DESCRIPTION,
        }


class MemberSessionScheme(OpenApiAuthenticationExtension):
    """The signed-in session, as the docs show it ("Try it out" while logged in)."""

    target_class = MerchantSessionAuthentication
    name = "MemberSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {**SESSION_SCHEME, "name": settings.SESSION_COOKIE_NAME}


SESSION_DESCRIPTION = (
    "A signed-in member's portal session (the browsable API, this page's Try it out): "
    "the member's merchant; reads need any role, writes a role that may do them (e.g. "
    "owner or administrator to start or cancel a verification), decrypted values the "
    "reveal permission. Writes need the CSRF token (header X-CSRFToken). "
    "Idempotency-Key is kept for API keys only."
)
SESSION_SCHEME = {"type": "apiKey", "in": "cookie", "description": SESSION_DESCRIPTION}
