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
        # DRF adds HEAD to a route's actions only once the route has served a request
        # in this process; B's HEAD is checked on every route that answers GET, whatever
        # ran before (which made this count depend on the tests that preceded it).
        methods = {m.upper() for m in p.callback.actions}
        if "GET" in methods:
            methods.add("HEAD")
        if "pk" in p.pattern.regex.groupindex:
            url = reverse(p.name, kwargs={"pk": obj.pk})
            for method in methods:
                r = getattr(b.api, method.lower())(url, {}, format="json")
                assert r.status_code == 404, (route, method, r.status_code)
                assert A_TAG not in r.content.decode()
                checks += 1
            if "GET" in methods:
                assert a.api.get(url).status_code == 200, route  # control: A reaches it
            else:  # a POST-only action (webhooks: test, replay...): A's own POST is no 404
                assert a.api.post(url, {}, format="json").status_code in (200, 202, 400), route
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


def owner_path(model: type[models.Model], seen: frozenset = frozenset()) -> str | None:
    """The lookup from a model to its merchant (e.g. "run__merchant"), or None."""
    from kyc.models import Merchant

    for f in model._meta.concrete_fields:
        if f.is_relation and f.related_model is Merchant:
            return f.name
    for f in model._meta.concrete_fields:
        target = f.related_model
        if f.is_relation and target is not None and target not in seen | {model}:
            rest = owner_path(target, seen | {model})
            if rest:
                return f"{f.name}__{rest}"
    return None


def owns_pk(side: Any, pk: Any) -> bool:
    """Whether any row of this side's merchant, in any table, has this primary key (an
    integer id in a URL could name one of B's own rows of another model)."""
    for model in side.objects:
        path = owner_path(model)
        if path and model._default_manager.filter(pk=pk, **{path: side.merchant}).exists():
            return True
    return False


def test_it_gives_merchant_b_staff_nothing_of_a_on_merchant_pages(world, client, promise) -> None:
    """Pages outside the admin and the API that take an object id, uuid or integer
    (transfer detail, a flow's review page, issuance runs, key revocation, ...): B's staff
    get 403/404/405 for A's object; A's staff reach it (the control)."""
    a, b = world
    routes = []
    for route, p in walk(get_resolver().url_patterns):
        if route.startswith(("admin/", "api/", "sandbox/", "hooks/")) or not p.name:
            continue
        if list(p.pattern.regex.groupindex) == ["pk"]:
            routes.append((p.name, "<int:" in str(p.pattern)))
    names = {name for name, _ in routes}
    assert {"transfer_detail", "issuance_detail", "api_key_revoke"} <= names, names
    checks = 0
    for name, by_int in routes:
        # A's objects with the right kind of id. A URL A's staff can open names A's row of
        # the page's model, which B cannot also own (one table, one pk): B is checked on
        # those. For POST-only pages (no GET tells which pk is the page's), an integer B
        # also uses in some table would be ambiguous, so B is checked on the others only.
        mine = [
            reverse(name, kwargs={"pk": o.pk})
            for o in a.objects.values()
            if isinstance(o.pk, int) == by_int
        ]
        urls = [
            reverse(name, kwargs={"pk": o.pk})
            for o in a.objects.values()
            if isinstance(o.pk, int) == by_int and not (by_int and owns_pk(b, o.pk))
        ]
        client.force_login(a.staff)
        shown = [u for u in dict.fromkeys(mine) if client.get(u).status_code in (200, 302)]
        post_only = not shown and all(client.get(u).status_code == 405 for u in mine)
        assert shown or post_only, f"{name}: A's staff cannot open any of A's objects"
        client.force_login(b.staff)
        for url in shown or urls:
            for method in ("get", "post"):
                r = getattr(client, method)(url)
                assert r.status_code in (403, 404, 405), (url, method, r.status_code)
                assert A_TAG not in r.content.decode()
                checks += 1
        if post_only:  # control after B's attempts: A's own POST does reach its object
            client.force_login(a.staff)
            assert any(client.post(u).status_code in (200, 302) for u in dict.fromkeys(mine)), name
    promise("isolation_matrix", checks, "merchant page checks")
