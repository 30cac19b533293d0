"""Mount every provider's sandbox under /sandbox/<provider>/ (only when SANDBOX is on)."""

import importlib
import importlib.util

from django.urls import include, path

from providers.registry import PROVIDERS


def sandbox_patterns() -> list:
    patterns = []
    for name in PROVIDERS:
        if importlib.util.find_spec(f"providers.{name}.sandbox") is None:
            continue
        module = importlib.import_module(f"providers.{name}.sandbox")
        patterns.append(path(f"{name}/", include((module.urlpatterns, f"sandbox_{name}"))))
    return patterns
