from django.urls import path

from kyc.flows.incode import views

urlpatterns = [
    path("hooks/incode/<str:token>/", views.webhook, name="incode_webhook"),
    path("api/v1/incode/start", views.sdk_start, name="incode_sdk_start"),
    path(
        "api/v1/incode/onboarding-url", views.sdk_onboarding_url, name="incode_sdk_onboarding_url"
    ),
    path("incode/review/<uuid:pk>/", views.review, name="incode_review"),
]
