"""`Authorization: Bearer <api key>`: the key names the merchant every query is scoped to."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from kyc import selectors, services
from kyc.models import ApiKey


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = request.headers.get("Authorization", "")
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


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describes the key in the OpenAPI schema (what clients and the fuzz tests read)."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A merchant API key: `Authorization: Bearer kp_…`.",
        }
