"""With DEBUG on, Django's error page lists every frame's local variables: ours hold
decrypted provider settings. The page must not show them (nor posted secrets)."""

from __future__ import annotations

import pytest
from django.test import Client

from kyc.models import ProviderAccount

pytestmark = pytest.mark.django_db

PLANTED = "planted-secret-7f3a9c1e"
POSTED = "posted-secret-2b8d4e6a"


@pytest.mark.urls("tests.hardening.boom_urls")
def test_it_shows_no_decrypted_setting_on_a_debug_error_page(merchant, settings) -> None:
    settings.DEBUG = True
    account = ProviderAccount.objects.create(
        merchant=merchant, provider="incode", settings={"api_key": PLANTED, "api_url": "https://x"}
    )
    client = Client(raise_request_exception=False)
    r = client.post(f"/boom/{account.pk}/?q=1", {"executive_password": POSTED, "note": POSTED})
    html = r.content.decode()
    assert r.status_code == 500
    assert "RuntimeError" in html and "Traceback" in html, "not Django's debug page"
    assert "harmless_name" in html and "decrypted" in html  # names stay, for debugging
    assert PLANTED not in html, "a decrypted provider setting is on the debug page"
    assert POSTED not in html, "a posted secret is on the debug page"
    for name in ("FIELD_ENCRYPTION_KEYS", "SECRET_KEY"):
        value = getattr(settings, name)
        text = value if isinstance(value, str) else value[0]
        assert text not in html, f"{name} is on the debug page"
