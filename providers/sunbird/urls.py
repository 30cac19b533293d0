from django.urls import path

from providers.sunbird import views

# The merchant's issuance pages (login and role checked in each view).
urlpatterns = [
    path("issuance/", views.issuance_list, name="issuance_list"),
    path("issuance/new/", views.issuance_new, name="issuance_new"),
    path("issuance/<int:pk>/", views.issuance_detail, name="issuance_detail"),
    path("issuance/<int:pk>/progress", views.issuance_progress, name="issuance_progress"),
    path("issuance/<int:pk>/retry", views.issuance_retry, name="issuance_retry"),
    path("issuance/<int:pk>/resubmit", views.issuance_resubmit, name="issuance_resubmit"),
]
