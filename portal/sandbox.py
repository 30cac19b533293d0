"""`/sandbox/`: what the built-in sandboxes offer, mounted only when SANDBOX is on.

Read from the same registry that mounts them (kyc.registry), so a new provider's sandbox
appears here without an edit: its consoles (pages without parameters, linked), its phone
or app pages (the customer's side, reached from a verification's page), and the vendor API
paths it plays.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, URLResolver
from django.views.decorators.http import require_GET

from kyc import registry


@dataclass
class SandboxEntry:
    name: str
    label: str
    consoles: list[tuple[str, str]] = field(default_factory=list)  # (title, url)
    phones: list[str] = field(default_factory=list)  # url templates
    api: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _route(pattern: Any) -> str:
    """The pattern as a person reads it: `phone/<str:rid>/` -> `phone/<rid>/`."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", str(pattern.pattern))


def _entry(name: str, label: str, patterns: list[URLPattern | URLResolver]) -> SandboxEntry:
    entry = SandboxEntry(name=name, label=label)
    base = f"/sandbox/{name}/"
    for p in patterns:
        route, url_name = _route(p), getattr(p, "name", None) or ""
        if "phone" in url_name or route.startswith("phone/"):
            if "action" not in url_name:
                entry.phones.append(base + route)
        elif url_name in ("console", "app") and "<" not in route:
            title = "App page (the customer's phone)" if url_name == "app" else "Console"
            entry.consoles.append((title, base + route))
        elif route.startswith("console"):
            continue  # console helpers for tests and demos (POST), not pages
        else:
            entry.api.append(base + route)
    return entry


def entries() -> list[SandboxEntry]:
    found = []
    for provider in registry.providers():
        patterns = provider.sandbox_urlpatterns()
        if not patterns:
            continue
        entry = _entry(provider.name, provider.label, patterns)
        hint = getattr(importlib.import_module(provider.sandbox), "demo_hint", None)
        if callable(hint):  # e.g. CorePass: a sample CoreID the sandbox knows
            entry.notes.append(str(hint()))
        found.append(entry)
    return found


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox/index.html", {"sandboxes": entries()})
