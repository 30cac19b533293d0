"""`Authorization: Bearer <api key>`: the key names the merchant every query is scoped to."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from kyc import selectors, services
from kyc.models import ApiKey

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
        key = request.auth
        if not isinstance(key, ApiKey):
            return False  # DRF answers 401: no or bad key
        scope = required_scope(str(request.method), view)
        if not key.has_scope(scope):
            raise exceptions.PermissionDenied(ApiKey.missing_scope_message(scope))
        return True


def may_read_pii(request: Any) -> bool:
    """Whether this request's key may see decrypted identity values."""
    key = getattr(request, "auth", None)
    return isinstance(key, ApiKey) and key.has_scope(ApiKey.Scope.PII)


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
