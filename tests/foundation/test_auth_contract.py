"""portal/api/auth.py in detail: which scope a request needs, who the API user is, and how
the key is described to clients (each test kills mutants `make mutate` found)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from kyc import services
from kyc.models import ApiKey
from portal.api.auth import SCHEME_DESCRIPTION, MerchantPrincipal, required_scope


def test_it_needs_read_for_safe_methods_and_write_for_the_rest_in_any_case() -> None:
    # The schema passes lower-case methods ("get"), DRF upper-case ones ("GET").
    for method in ("GET", "get", "HEAD", "head", "OPTIONS", "options"):
        assert required_scope(method) == ApiKey.Scope.READ, method
    for method in ("POST", "post", "PUT", "PATCH", "DELETE", "delete"):
        assert required_scope(method) == ApiKey.Scope.WRITE, method


def test_it_takes_the_scope_a_view_declares_over_the_method_default() -> None:
    view = SimpleNamespace(required_scope=ApiKey.Scope.PII)
    assert required_scope("GET", view) == "pii"
    assert required_scope("POST", view) == "pii"
    # a view declaring nothing (or nothing truthy) falls back to the method's scope
    assert required_scope("POST", SimpleNamespace(required_scope="")) == "write"
    assert required_scope("GET", SimpleNamespace()) == "read"


@pytest.mark.django_db
def test_it_makes_the_keys_merchant_the_api_user(merchant) -> None:
    key, _ = services.api_key_create(merchant=merchant, name="k")
    user = MerchantPrincipal(key)
    assert user.key == key and user.merchant == merchant
    assert str(user) == f"api:{key.prefix}"
    assert user.is_authenticated and not user.is_staff and not user.is_superuser


@pytest.mark.django_db
def test_it_describes_the_key_to_clients_as_a_bearer_token(client) -> None:
    r = client.get("/api/schema/")
    assert r.status_code == 200
    schema = yaml.safe_load(r.content)
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": SCHEME_DESCRIPTION,
    }
    # every operation names the scheme, so generated clients send the key
    ops = [op for ops in schema["paths"].values() for op in ops.values()]
    assert ops and all({"ApiKey": []} in op.get("security", []) for op in ops)


@pytest.mark.django_db
def test_it_checks_the_scope_of_the_method_or_the_one_the_view_declares(merchant) -> None:
    from rest_framework.exceptions import PermissionDenied

    from portal.api.auth import HasKeyScope

    read_only, _ = services.api_key_create(merchant=merchant, name="r", scopes=["read"])
    check = HasKeyScope().has_permission
    plain_view = SimpleNamespace()
    assert check(SimpleNamespace(auth=read_only, method="GET"), plain_view) is True
    with pytest.raises(PermissionDenied) as refused:
        check(SimpleNamespace(auth=read_only, method="POST"), plain_view)
    assert str(refused.value.detail) == ApiKey.missing_scope_message("write")
    with pytest.raises(PermissionDenied) as pii:
        check(SimpleNamespace(auth=read_only, method="GET"), SimpleNamespace(required_scope="pii"))
    assert "'pii' scope" in str(pii.value.detail)
    # no key (or not an ApiKey): refused without naming a scope, so DRF answers 401
    assert check(SimpleNamespace(auth=None, method="GET"), plain_view) is False
    assert check(SimpleNamespace(auth="kp_x", method="GET"), plain_view) is False


@pytest.mark.django_db
def test_it_decrypts_identity_values_only_for_a_key_with_pii(merchant) -> None:
    from portal.api.auth import may_read_pii

    pii, _ = services.api_key_create(merchant=merchant, name="p", scopes=["read", "pii"])
    plain, _ = services.api_key_create(merchant=merchant, name="r", scopes=["read", "write"])
    assert may_read_pii(SimpleNamespace(auth=pii)) is True
    assert may_read_pii(SimpleNamespace(auth=plain)) is False
    assert may_read_pii(SimpleNamespace(auth=None)) is False
    assert may_read_pii(SimpleNamespace()) is False


@pytest.mark.django_db
def test_it_asks_for_a_key_when_none_is_sent_and_takes_one_padded_with_spaces(merchant) -> None:
    from rest_framework.test import APIClient

    _, raw = services.api_key_create(merchant=merchant, name="k")
    bare = APIClient().get("/api/v1/transfers/")
    assert bare.status_code == 401
    # no header is "not authenticated", not a malformed header
    assert bare.json()["detail"] == "Authentication credentials were not provided."
    assert bare["WWW-Authenticate"] == "Bearer"
    padded = APIClient()
    padded.credentials(HTTP_AUTHORIZATION=f"Bearer  {raw}")  # two spaces
    r = padded.get("/api/v1/transfers/")
    assert r.status_code == 200 and r.json()["results"] == []
    # a space inside the key is not padding: the whole rest is the key, and it is wrong
    split = APIClient()
    split.credentials(HTTP_AUTHORIZATION=f"Bearer {raw[:6]} {raw[6:]}")
    assert split.get("/api/v1/transfers/").json()["detail"] == "Unknown or revoked API key."
