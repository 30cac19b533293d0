"""ID front/back and selfie images: fetched from Incode once the onboarding is finished,
stored encrypted, shown on the review page only after a reveal, erased with the record."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.db import connection
from django.urls import reverse

from kyc import services
from kyc.models import AuditEntry, KYCRecord, Membership, TransferRequest
from kyc.status import Status
from providers.incode import services as incode_services
from providers.incode import tasks as incode_tasks
from providers.incode.models import IncodeImage
from tests.admin_workspace.conftest import browser_login, member
from tests.conftest import wait_for
from tests.incode.conftest import API_KEY, finish_on_phone, start_request

PNG = b"\x89PNG\r\n\x1a\n"
KINDS = {"croppedFrontID", "croppedBackID", "croppedFace"}


def _finished(api: Any, reference: str, outcome: str = "fail") -> TransferRequest:
    t = start_request(api, reference)
    finish_on_phone(t.deep_link, outcome)
    wait_for(lambda: TransferRequest.objects.get(pk=t.pk).status != Status.PENDING)
    t.refresh_from_db()
    return t


def _images_outage(sandbox: str, status: int) -> None:
    r = requests.post(
        f"{sandbox}/console/images-outage",
        json={"status": status},
        headers={"x-api-key": API_KEY},
        timeout=5,
    )
    assert r.status_code == 200


def _image_urls(record: KYCRecord) -> list[str]:
    return [
        reverse("admin:kyc_incode_image", args=[pk])
        for pk in IncodeImage.objects.filter(transfer__record=record).values_list("pk", flat=True)
    ]


def test_it_stores_the_images_encrypted(api: Any, account: Any, sandbox: str, eager: None) -> None:
    t = _finished(api, "img-stored")
    wait_for(lambda: IncodeImage.objects.filter(transfer=t).count() == 3)
    images = {i.kind: i for i in IncodeImage.objects.filter(transfer=t)}
    assert set(images) == KINDS
    for image in images.values():
        assert bytes(image.data).startswith(PNG) and image.content_type == "image/png"
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT data FROM {IncodeImage._meta.db_table} WHERE transfer_id = %s", [str(t.pk)]
        )
        raw = [row[0] for row in cur.fetchall()]
    assert len(raw) == 3
    for stored in raw:
        assert stored.startswith("fernet:")
        assert "PNG" not in stored and "iVBORw0KGgo" not in stored  # neither bytes nor base64
    t.refresh_from_db()
    assert t.status == Status.REVIEW
    assert sorted(t.provider_data["incode_images"]) == sorted(KINDS)
    # Once: asking again fetches nothing more.
    assert incode_services.images_fetch(transfer_id=t.pk) == "stored"
    assert IncodeImage.objects.filter(transfer=t).count() == 3


def test_it_shows_the_images_only_after_a_reveal(
    api: Any, account: Any, sandbox: str, eager: None
) -> None:
    t = _finished(api, "img-reveal")
    record = t.record
    wait_for(lambda: IncodeImage.objects.filter(transfer=t).count() == 3)
    urls = _image_urls(record)
    reviewer = member(t.merchant, Membership.Role.COMPLIANCE)
    page = reverse("admin:kyc_kycrecord_review", args=[record.pk])

    html = reviewer.get(page).content.decode()
    assert "Reveal to see the ID images." in html
    assert not any(url in html for url in urls)
    for url in urls:
        hidden = reviewer.get(url)
        assert hidden.status_code == 403 and "no-store" in hidden["Cache-Control"]
        assert hidden.content == b"Reveal to see the ID images."

    fields = list(record.fields.values_list("pk", flat=True))
    r = reviewer.post(
        reverse("admin:kyc_kycrecord_reveal", args=[record.pk]),
        {"fields": fields, "purpose": "review"},
    )
    assert r.status_code == 302
    assert AuditEntry.objects.filter(action="pii.revealed", object_id=str(record.pk)).count() == 1

    html = reviewer.get(page).content.decode()
    assert "Reveal to see the ID images." not in html
    assert all(f'src="{url}"' in html for url in urls)
    for url in urls:
        shown = reviewer.get(url)
        assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
        assert shown.content.startswith(PNG) and "no-store" in shown["Cache-Control"]
    # The reveal is this session's: another compliance member still sees the placeholder,
    # and one without the reveal permission gets nothing either.
    for other in (
        member(t.merchant, Membership.Role.COMPLIANCE),
        member(t.merchant, Membership.Role.OWNER, reveal=False),
    ):
        assert other.get(urls[0]).status_code == 403
    assert AuditEntry.objects.filter(action="pii.revealed", object_id=str(record.pk)).count() == 1


def test_it_erases_the_images_with_the_record(
    api: Any, account: Any, sandbox: str, eager: None
) -> None:
    t = _finished(api, "img-erase")
    keep = _finished(api, "img-keep")
    wait_for(lambda: IncodeImage.objects.filter(transfer__in=[t, keep]).count() == 6)
    urls = _image_urls(t.record)
    services.record_erase(record=t.record, reason="customer asked")
    assert not IncodeImage.objects.filter(transfer=t).exists()
    assert IncodeImage.objects.filter(transfer=keep).count() == 3  # control: others stay
    reviewer = member(t.merchant, Membership.Role.COMPLIANCE)
    assert all(reviewer.get(url).status_code == 404 for url in urls)
    # Nothing is fetched again for an erased record.
    assert incode_services.images_fetch(transfer_id=t.pk) == "nothing-to-do"
    assert not IncodeImage.objects.filter(transfer=t).exists()


def test_it_drops_images_of_requests_the_retention_period_erased(
    api: Any, account: Any, sandbox: str, eager: None
) -> None:
    t = _finished(api, "img-retention")
    wait_for(lambda: IncodeImage.objects.filter(transfer=t).count() == 3)
    TransferRequest.objects.filter(pk=t.pk).update(
        provider_data={**t.provider_data, "pii_erased_at": "2026-01-01T00:00:00+00:00"}
    )
    incode_services.reconcile()
    assert not IncodeImage.objects.filter(transfer=t).exists()


@pytest.mark.parametrize("outage", [400, 503])
def test_it_completes_when_the_image_call_fails(
    api: Any, account: Any, sandbox: str, eager: None, outage: int
) -> None:
    _images_outage(sandbox, outage)
    t = _finished(api, f"img-down-{outage}", outcome="pass")
    assert t.status == Status.COMPLETED  # the finish is not held up by the images

    def error() -> str:
        return TransferRequest.objects.get(pk=t.pk).provider_data.get("incode_images_error", "")

    if outage == 503:  # retried by the task (inline here) until it gave up
        wait_for(lambda: error().endswith("(gave up retrying)"))
    else:  # permanent: recorded with the finish, not retried
        assert error() and "gave up" not in error()
    assert not IncodeImage.objects.filter(transfer=t).exists()
    # Incode answers again: the task fetches them and clears the error.
    _images_outage(sandbox, 0)
    assert incode_tasks.fetch_images(str(t.pk)) == "stored"
    t.refresh_from_db()
    assert "incode_images_error" not in t.provider_data
    assert IncodeImage.objects.filter(transfer=t).count() == 3


@pytest.mark.browser
def test_it_shows_the_images_in_the_browser_after_a_reveal(
    api: Any, account: Any, sandbox: str, eager: None, page: Any, public_url: str
) -> None:
    from tests import factories
    from tests.conftest import SCREENSHOTS

    t = _finished(api, "img-browser")
    reviewer = factories.staff_user(t.merchant, reveal=True, role=Membership.Role.COMPLIANCE)
    browser_login(page, f"{public_url}/admin/login/", reviewer, submit="input[type=submit]")
    page.goto(f"{public_url}{reverse('admin:kyc_kycrecord_review', args=[t.record.pk])}")
    page.wait_for_selector("#images")
    assert "Reveal to see the ID images." in page.inner_text("#images")
    assert page.locator("#images img").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "incode_review_images_hidden.png"), full_page=True)

    page.click("#reveal-all")
    page.select_option("#purpose", "review")
    page.click("#reveal-submit")
    page.wait_for_selector("#reveal-note")
    images = page.locator("#images img")
    assert images.count() == 3
    # every image really loaded (decoded by the browser), not a broken placeholder
    loaded = "[...document.querySelectorAll('#images img')].map(i => i.naturalWidth)"
    wait_for(lambda: all(width > 0 for width in page.evaluate(loaded)))
    assert "ID front" in page.inner_text("#images") and "Selfie" in page.inner_text("#images")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.screenshot(path=str(SCREENSHOTS / "incode_review_images_shown.png"), full_page=True)
