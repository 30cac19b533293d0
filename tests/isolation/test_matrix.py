"""Merchant B never reaches merchant A's objects: every API route, every admin model.

Routes come from the URL resolver and models from `admin.site._registry`, so
endpoints and admin models the provider flows add later are covered as they land.
Each B-side check has an A-side control that proves the check can fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib import admin
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.isolation.conftest_world import A_TAG

pytestmark = pytest.mark.django_db


def walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from walk(p.url_patterns, prefix + str(p.pattern))
        else:
            yield prefix + str(p.pattern), p


def api_routes() -> list[tuple[str, URLPattern]]:
    return [
        (route, p)
        for route, p in walk(get_resolver().url_patterns)
        if route.startswith("api/v1/") and hasattr(p.callback, "cls")
    ]


def model_of(p: URLPattern, merchant: Any) -> type[models.Model]:
    view = p.callback.cls()
    view.action = next(iter(p.callback.actions.values()))
    view.request = SimpleNamespace(auth=SimpleNamespace(merchant=merchant), query_params={})
    view.kwargs = {}
    view.format_kwarg = None
    return view.get_queryset().model


def ids_in(body: Any) -> set[str]:
    rows = body.get("results", body) if isinstance(body, dict) else body
    return {str(r.get("id")) for r in rows if isinstance(r, dict)}


def test_it_gives_merchant_b_nothing_of_a_through_any_api_route(world, promise) -> None:
    a, b = world
    routes = api_routes()
    assert len(routes) >= 6, routes  # transfers, records, certificates: list + detail each
    checks = 0
    for route, p in routes:
        model = model_of(p, a.merchant)
        obj = a.objects[model]
        methods = {m.upper() for m in p.callback.actions}
        if "pk" in p.pattern.regex.groupindex:
            url = reverse(p.name, kwargs={"pk": obj.pk})
            for method in methods:
                r = getattr(b.api, method.lower())(url, {}, format="json")
                assert r.status_code == 404, (route, method, r.status_code)
                assert A_TAG not in r.content.decode()
                checks += 1
            assert a.api.get(url).status_code == 200, route  # control: A reaches it
        elif "GET" in methods:
            url = reverse(p.name)
            for params in ({}, {"reference": getattr(obj, "reference", "")}, {"limit": 500}):
                r = b.api.get(url, params)
                assert r.status_code == 200, route
                assert str(obj.pk) not in ids_in(r.json()), route
                assert A_TAG not in r.content.decode(), route
                checks += 1
            assert str(obj.pk) in ids_in(a.api.get(url, {"limit": 500}).json()), route
    promise("isolation_matrix", checks, "API checks")


def admin_url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def registered() -> list[tuple[type[models.Model], admin.ModelAdmin]]:
    return sorted(admin.site._registry.items(), key=lambda kv: kv[0]._meta.label)


def test_it_gives_merchant_b_staff_nothing_of_a_in_any_admin_model(world, client, promise) -> None:
    a, b = world
    checks = 0
    covered = 0
    for model, model_admin in registered():
        obj = a.objects.get(model)
        client.force_login(b.staff)
        changelist = client.get(admin_url(model, "changelist"))
        if changelist.status_code == 403:  # not B's business at all (auth users, groups)
            assert obj is None or A_TAG not in changelist.content.decode()
            checks += 1
            continue
        assert changelist.status_code == 200, model
        assert A_TAG not in changelist.content.decode(), f"{model._meta.label} list shows A"
        checks += 1
        if obj is None:
            continue
        covered += 1
        assert obj.pk not in {o.pk for o in changelist.context["cl"].result_list}
        search = client.get(admin_url(model, "changelist"), {"q": A_TAG})
        assert search.status_code == 200, model
        assert obj.pk not in {o.pk for o in search.context["cl"].result_list}, model
        for view in ("change", "history", "delete"):
            r = client.get(admin_url(model, view, obj.pk))
            assert r.status_code in (403, 404), (model._meta.label, view, r.status_code)
            assert A_TAG not in r.content.decode()
            checks += 1
        own = b.objects.get(model)
        if own is not None:  # B's own change page: its form choices never list A's objects
            r = client.get(admin_url(model, "change", own.pk))
            assert r.status_code == 200, model
            assert A_TAG not in r.content.decode(), f"{model._meta.label} form offers A's objects"
            checks += 1
        # control: A's staff sees the object, so the checks above can fail
        client.force_login(a.staff)
        mine = client.get(admin_url(model, "changelist"))
        assert obj.pk in {o.pk for o in mine.context["cl"].result_list}, model
        assert client.get(admin_url(model, "change", obj.pk)).status_code == 200, model
    assert covered >= 9, covered  # every merchant-owned kyc model at least
    promise("isolation_matrix", checks, "admin checks")


def test_it_never_autocompletes_merchant_a_for_b(world, client, promise) -> None:
    a, b = world
    checks = 0
    for model, _ in registered():
        for field in model._meta.concrete_fields:
            if not field.is_relation or field.related_model not in admin.site._registry:
                continue
            remote_admin = admin.site._registry[field.related_model]
            if not remote_admin.search_fields:
                continue
            target = a.objects.get(field.related_model) or (
                a.merchant if field.related_model is type(a.merchant) else None
            )
            params = {
                "app_label": model._meta.app_label,
                "model_name": model._meta.model_name,
                "field_name": field.name,
                "term": "",
            }
            client.force_login(b.staff)
            r = client.get("/admin/autocomplete/", params)
            assert r.status_code in (200, 403, 404), (model, field.name)
            if r.status_code == 200:
                ids = {x["id"] for x in r.json()["results"]}
                if target is not None:
                    assert str(target.pk) not in ids, (model._meta.label, field.name)
                assert A_TAG not in r.content.decode()
                client.force_login(a.staff)
                assert A_TAG in client.get("/admin/autocomplete/", params).content.decode()
            checks += 1
    assert checks >= 1
    promise("isolation_matrix", checks, "autocomplete checks")


def test_it_gives_merchant_b_staff_nothing_of_a_on_merchant_pages(world, client, promise) -> None:
    """Pages outside the admin and the API that take a request id (transfer detail, a
    flow's review page, ...): B's staff get 404 for A's request."""
    from kyc.models import TransferRequest

    a, b = world
    # A's requests, including rows fitted to proxy models (e.g. "Incode requests in review")
    candidates = [o for m, o in a.objects.items() if issubclass(m, TransferRequest)]
    routes = []
    for route, p in walk(get_resolver().url_patterns):
        if route.startswith(("admin/", "api/", "sandbox/", "hooks/")) or not p.name:
            continue
        if list(p.pattern.regex.groupindex) == ["pk"] and "uuid" in str(p.pattern):
            routes.append(p.name)
    assert routes, "no merchant page takes a request id?"
    checks = 0
    for name in routes:
        client.force_login(a.staff)
        # control: a request of A's that this page shows to A
        url = next(
            (
                u
                for u in (reverse(name, kwargs={"pk": o.pk}) for o in candidates)
                if client.get(u).status_code in (200, 302)
            ),
            None,
        )
        assert url, f"{name}: A's staff cannot open any of A's requests"
        client.force_login(b.staff)
        for method in ("get", "post"):
            r = getattr(client, method)(url)
            assert r.status_code in (403, 404, 405), (url, method, r.status_code)
            assert A_TAG not in r.content.decode()
            checks += 1
    promise("isolation_matrix", checks, "merchant page checks")
