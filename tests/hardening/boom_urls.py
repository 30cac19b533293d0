"""The portal's URLs plus one view that fails while holding decrypted provider settings."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from kyc.models import ProviderAccount
from portal.urls import urlpatterns as portal_urlpatterns


def boom(request: HttpRequest, pk: int) -> HttpResponse:
    account = ProviderAccount.objects.get(pk=pk)
    decrypted = account.settings  # what a provider client holds while it works
    api_key = decrypted["api_key"]
    harmless_name = decrypted["api_key"]
    raise RuntimeError(f"failed for account #{account.pk} ({len(api_key + harmless_name)})")


urlpatterns = [path("boom/<int:pk>/", boom), *portal_urlpatterns]
