"""The merchant's Branding page: what the customer page shows of the merchant."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from kyc.models import AuditEntry, Membership
from portal.branding import MAX_LOGO_BYTES, logo_type
from tests.customer.test_page_views import get, make
from tests.roles.conftest import member_client

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 100
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
FORM = {
    "brand_color": "#0b6e4f",
    "support_contact": "help@shop.example",
    "privacy_url": "https://shop.example/privacy",
    "restart_url": "https://shop.example/verify",
    "default_language": "uk",
}


def test_it_recognises_logo_types_by_their_bytes() -> None:
    assert logo_type(PNG) == "image/png" and logo_type(JPEG) == "image/jpeg"
    assert logo_type(WEBP) == "image/webp"
    assert logo_type(SVG) == "" and logo_type(b"GIF89a....") == "" and logo_type(b"") == ""


def test_it_saves_the_branding_and_the_customer_page_shows_it(merchant: Any) -> None:
    owner = member_client(merchant, Membership.Role.OWNER)
    assert owner.get("/branding/").status_code == 200
    logo = SimpleUploadedFile("logo.png", PNG, content_type="image/png")
    r = owner.post("/branding/", {**FORM, "logo_file": logo})
    assert r.status_code == 302, r.content.decode()[:2000]
    merchant.refresh_from_db()
    assert (merchant.brand_color, merchant.default_language) == ("#0b6e4f", "uk")
    assert bytes(merchant.logo) == PNG and merchant.logo_type == "image/png"
    entry = AuditEntry.objects.get(action="merchant.branding")
    assert "logo" in entry.detail["changed"] and "brand_color" in entry.detail["changed"]
    html = get(make(merchant), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'data-brand="#0b6e4f"' in html and "brand-logo" in html and '<html lang="uk">' in html
    assert 'href="mailto:help@shop.example"' in html
    assert 'href="https://shop.example/privacy"' in html
    page = owner.get("/branding/").content.decode()
    assert 'src="data:image/png;base64,' in page  # the preview needs no extra URL
    owner.post("/branding/", {**FORM, "remove_logo": "on"})
    merchant.refresh_from_db()
    assert merchant.logo is None and merchant.logo_type == ""


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"logo_file": ("logo.svg", SVG)}, "PNG, JPEG or WebP"),
        ({"logo_file": ("logo.png", b"\x89PNG\r\n\x1a\n" + b"0" * MAX_LOGO_BYTES)}, "200 KB"),
        ({"brand_color": "red"}, "hex colour"),
        ({"privacy_url": "http://shop.example/privacy"}, "https URL"),
        ({"restart_url": "http://shop.example/again"}, "https URL"),
        ({"support_contact": "call us"}, "email address or an https URL"),
    ],
)
def test_it_refuses_what_the_customer_page_could_not_show_safely(
    merchant: Any, change: dict[str, Any], error: str
) -> None:
    owner = member_client(merchant, Membership.Role.ADMIN)
    data: dict[str, Any] = {**FORM}
    for key, value in change.items():
        data[key] = SimpleUploadedFile(value[0], value[1]) if key == "logo_file" else value
    r = owner.post("/branding/", data)
    assert r.status_code == 200 and error in r.content.decode()
    merchant.refresh_from_db()
    assert merchant.brand_color != "#0b6e4f" and not merchant.logo_type  # nothing saved


def test_it_lets_only_owners_and_admins_change_the_branding(merchant: Any) -> None:
    viewer = member_client(merchant, Membership.Role.VIEWER)
    assert viewer.get("/branding/").status_code == 403
    assert viewer.post("/branding/", FORM).status_code == 403
    merchant.refresh_from_db()
    assert merchant.brand_color != "#0b6e4f"
    assert member_client(merchant, Membership.Role.ADMIN).get("/branding/").status_code == 200
