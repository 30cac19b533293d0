"""Public URLs of kyc: customer pages and each flow's inbound endpoints."""

import importlib
import importlib.util
from typing import Any

from django.conf import settings
from django.urls import include, path

from kyc import views

urlpatterns: list[Any] = [
    path("t/<str:token>/", views.transfer_page, name="transfer_page"),
    path("t/<str:token>/status", views.transfer_status, name="transfer_status"),
]

# Each installed flow app mounts its own endpoints (webhooks, callbacks, merchant endpoints).
for _app in settings.INSTALLED_APPS:
    if _app.startswith("kyc.flows."):
        if importlib.util.find_spec(f"{_app}.urls") is not None:
            urlpatterns.append(path("", include(f"{_app}.urls")))
