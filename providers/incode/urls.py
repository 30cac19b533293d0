from django.urls import path

from providers.incode import views

# The token-server endpoints sit under /api/incode/, not /api/v1/: portal/api/urls.py
# answers every unknown /api/v1/ path itself (JSON 404), which would shadow them.
urlpatterns = [
    path("hooks/incode/<str:token>/", views.webhook, name="incode_webhook"),
    path("api/incode/start", views.sdk_start, name="incode_sdk_start"),
    path("api/incode/onboarding-url", views.sdk_onboarding_url, name="incode_sdk_onboarding_url"),
    path("incode/review/<uuid:pk>/", views.review, name="incode_review"),
]
