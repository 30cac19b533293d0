from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from kyc import admin as kyc_admin
from kyc import registry
from kyc import urls as kyc_urls
from portal import customers, dashboard, metrics, transfers, twofactor, views, webhooks
from portal.api import quickstart
from portal.auth import login_limited
from portal.branding import branding as merchant_branding

admin.site.site_header = "KYC portal: compliance"
admin.site.site_title = "KYC portal admin"

urlpatterns = [
    # First: the customer pages and the provider hooks take most of the traffic (every
    # poll, every delivery), so they are matched before the merchant and admin pages.
    *kyc_urls.urlpatterns,
    path("", dashboard.dashboard, name="dashboard"),
    # Every login path shares one limiter (per address and per account): kyc.ratelimit.
    path("login/", login_limited(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("2fa/setup/", twofactor.setup, name="otp_setup"),
    path("2fa/verify/", twofactor.verify, name="otp_verify"),
    path("keys/", views.api_keys, name="api_keys"),
    path("keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("branding/", merchant_branding, name="branding"),
    path("providers/", views.provider_settings_index, name="provider_settings_index"),
    path("providers/<str:provider>/", views.provider_settings, name="provider_settings"),
    path("webhooks/", webhooks.webhooks, name="webhooks"),
    path("webhooks/<int:pk>/", webhooks.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:pk>/test/", webhooks.webhook_test, name="webhook_test"),
    path("webhooks/<int:pk>/rotate/", webhooks.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<int:pk>/toggle/", webhooks.webhook_toggle, name="webhook_toggle"),
    path("webhooks/deliveries/<int:pk>/replay/", webhooks.webhook_replay, name="webhook_replay"),
    path("webhooks/<int:pk>/delete/", webhooks.webhook_delete, name="webhook_delete"),
    path("transfers/", transfers.transfer_list, name="transfer_list"),
    path("transfers/new/", transfers.transfer_new, name="transfer_new"),
    path("transfers/<uuid:pk>/", transfers.transfer_detail, name="transfer_detail"),
    path("transfers/<uuid:pk>/live/", transfers.transfer_status, name="transfer_live"),
    path("transfers/<uuid:pk>/cancel/", transfers.transfer_cancel, name="transfer_cancel"),
    path("transfers/<uuid:pk>/again/", transfers.transfer_again, name="transfer_again"),
    path("customers/", customers.customer_list, name="customer_list"),
    path("customers/<int:pk>/", customers.customer_detail, name="customer_detail"),
    path("customers/<int:pk>/reveal/", transfers.customer_reveal, name="customer_reveal"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),  # Prometheus (portal/metrics.py)
    # Before admin.site.urls, so the admin's own login view is reached only through the limiter.
    path("admin/login/", login_limited(admin.site.login), name="admin_login"),
    # Django's "view on site" shortcut, scoped: no hint whether another merchant's object exists.
    path(
        "admin/r/<path:content_type_id>/<path:object_id>/",
        admin.site.admin_view(kyc_admin.view_on_site),
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The customer page's language switcher (Django's set_language view).
    path("i18n/", include("django.conf.urls.i18n")),
    # Split view: Swagger UI's init script is a separate same-origin file (CSP script-src 'self').
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("quickstart/", quickstart.quickstart, name="quickstart"),  # API quick start
]

# Error pages in the customer page's style (templates/404.html, 500.html), also with DEBUG on.
handler404 = "kyc.views.not_found"
handler500 = "kyc.views.server_error"

if settings.SANDBOX:
    # Each provider's sandbox plays the vendor under /sandbox/<name>/ (namespace sandbox_<name>).
    urlpatterns.append(
        path(
            "sandbox/",
            include(
                [
                    path(f"{p.name}/", include((patterns, f"sandbox_{p.name}")))
                    for p in registry.providers()
                    if (patterns := p.sandbox_urlpatterns())
                ]
            ),
        )
    )
    # /sandbox/ itself: every sandbox's consoles and phone pages (portal/sandbox.py).
    from portal.sandbox import index as sandbox_index

    urlpatterns.append(path("sandbox/", sandbox_index, name="sandbox_index"))
