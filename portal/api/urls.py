from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.routers import SimpleRouter

from portal.api import views, webhooks

router = SimpleRouter()
router.register("transfers", views.TransferViewSet, basename="transfer")
router.register("records", views.RecordViewSet, basename="record")
router.register("certificates", views.CertificateViewSet, basename="certificate")
router.register("webhook-endpoints", webhooks.WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("webhook-deliveries", webhooks.WebhookDeliveryViewSet, basename="webhook-delivery")


@csrf_exempt  # a POST to an unknown API path is a JSON 404, not the HTML CSRF page
def not_found(request: HttpRequest) -> JsonResponse:
    """Unknown API paths answer like the API (JSON), not with the HTML 404 page."""
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


# [\s\S], not ".": a path with an encoded newline (%0A) is an unknown API path too.
urlpatterns = [*router.urls, re_path(r"^[\s\S]*$", not_found, name="api-not-found")]
