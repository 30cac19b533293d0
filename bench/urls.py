"""Root URLconf of the bench stack only: the portal's urls plus the baselines."""

from django.urls import path

from bench import views
from portal.urls import urlpatterns as portal_urlpatterns

BASELINE_JSON = "/bench/baseline/json"
BASELINE_INSERT = "/bench/baseline/insert"

# The baselines first: the framework's ceiling does not pay for matching the portal's
# URL list before it is found.
urlpatterns = [
    path(BASELINE_JSON.lstrip("/"), views.baseline_json, name="bench_baseline_json"),
    path(BASELINE_INSERT.lstrip("/"), views.baseline_insert, name="bench_baseline_insert"),
    *portal_urlpatterns,
]
