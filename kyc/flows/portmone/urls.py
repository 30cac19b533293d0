from django.urls import path

from kyc.flows.portmone import views

urlpatterns = [
    path("hooks/portmone/<str:token>/", views.webhook, name="portmone_webhook"),
]
