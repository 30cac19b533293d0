from django.urls import path

from providers.portmone import views

urlpatterns = [
    path("hooks/portmone/<str:token>/", views.webhook, name="portmone_webhook"),
]
