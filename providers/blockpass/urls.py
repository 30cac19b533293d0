from django.urls import path, re_path

from providers.blockpass import views

urlpatterns = [
    # The merchant's webhook: the URL the provider settings page shows.
    path("hooks/blockpass/<str:token>/", views.webhook, name="blockpass_webhook"),
    # What the Blockpass app calls (server SDK: /api/{login,register,upload,resubmit,status}).
    re_path(
        r"^hooks/blockpass/(?P<token>[\w-]+)/api/(?P<action>login|register|upload|resubmit|status)/?$",
        views.merchant_api,
        name="blockpass_merchant_api",
    ),
]
