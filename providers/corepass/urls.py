from django.urls import path

from providers.corepass import views

# The connector gets `<base>data` as `callback` and `<base>status` as `statusCallback`,
# where <base> = /hooks/corepass/t/<callback_token>/ (unguessable, one per request).
urlpatterns = [
    path("hooks/corepass/t/<str:token>/status", views.status_callback, name="corepass_status"),
    path("hooks/corepass/t/<str:token>/data", views.data_callback, name="corepass_data"),
]
