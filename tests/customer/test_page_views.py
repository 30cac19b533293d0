"""The customer page as served (no browser): one card per status, nothing internal, the
right way forward on a phone and a desktop, what is shared in plain words, the merchant's
branding, and the first-open stamp for the dashboard's funnel."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from kyc import customer, selectors
from kyc.models import TransferRequest
from kyc.status import Status
from providers.portmone.provider import app_link
from tests import factories

pytestmark = pytest.mark.django_db

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148 Safari/604.1"
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"

# What providers and staff leave on a request: none of it may reach the customer.
INTERNAL = {
    "provider_status": "FINISH_FAILED",
    "status_detail": "POST 127.0.0.1:9/down/kyc: provider unreachable; score 0.42; note: ok by Bob",
}
TX_HASH = "0xdeadbeefcafe"


def make(merchant: Any, provider: str = "corepass", **fields: Any) -> TransferRequest:
    fields.setdefault("status", Status.PENDING)
    t = factories.TransferRequestFactory(
        merchant=merchant, provider=provider, reference="r", **fields
    )
    cache.delete(selectors.page_state_key(t.page_token))
    return t


def get(t: TransferRequest, ua: str = DESKTOP_UA, **headers: Any) -> Any:
    return Client().get(f"/t/{t.page_token}/", HTTP_USER_AGENT=ua, **headers)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (Status.CREATED, "Getting your request ready"),
        (Status.PENDING, "Approve in the CorePass app"),
        (Status.ACCEPTED, "Thank you, you approved"),
        (Status.PROCESSING, "Almost there"),
        (Status.REVIEW, "Your details are being checked"),
        (Status.COMPLETED, "All done"),
        (Status.FAILED, "This could not be completed"),
        (Status.DECLINED, "You declined"),
        (Status.EXPIRED, "This link has expired"),
        (Status.REJECTED, "Your details were not accepted"),
        (Status.CANCELLED, "This request was cancelled"),
    ],
)
def test_it_shows_one_card_per_status_with_nothing_internal(
    merchant: Any, status: str, title: str
) -> None:
    t = make(
        merchant,
        status=status,
        failure_code="finish_failed" if status == Status.FAILED else "",
        qr_svg="<svg id='the-qr'></svg>",
        deep_link="corepass:sign/abc",
        expires_at=timezone.now() + dt.timedelta(minutes=5),
        items=["SH_EMAIL"],
        **INTERNAL,
    )
    factories.TransferEventFactory(transfer=t, provider_status="CONFIRM_SUBMITTED", tx_hash=TX_HASH)
    r = get(t)
    html = r.content.decode()
    assert r.status_code == (410 if status == Status.EXPIRED else 200)
    assert f'data-status="{status}"' in html and f">{title}</h1>" in html
    # The QR code, the scan prompt and the countdown exist only while the customer acts.
    pending = status == Status.PENDING
    assert ("the-qr" in html) is pending and ("data-expires=" in html) is pending
    assert ("Scan this code" in html) is pending
    for internal in ("FINISH_FAILED", "CONFIRM_SUBMITTED", TX_HASH, "127.0.0.1", "0.42", "Bob"):
        assert internal not in html, internal
    assert "timeline" not in html and "finish_failed" not in html
    # The status is said in words next to an icon, never by colour alone.
    word = str(customer.STATUS_WORDS[status])
    assert re.search(
        rf'class="status-word[^"]*"><span class="icon" aria-hidden="true">[^<]+</span> {word}', html
    )


def test_it_shows_the_qr_and_continue_on_this_device_on_a_desktop(merchant: Any) -> None:
    t = make(merchant, qr_svg="<svg id='the-qr'></svg>", deep_link="corepass:sign/abc")
    html = get(t).content.decode()
    assert "the-qr" in html and "Scan this code with the CorePass app." in html
    assert re.search(r'id="deep-link" href="corepass:sign/abc"[^>]*>Continue on this device<', html)
    assert html.index("the-qr") < html.index('id="deep-link"')


def test_it_puts_the_button_first_on_a_phone_and_the_qr_behind_another_device(
    merchant: Any,
) -> None:
    t = make(merchant, qr_svg="<svg id='the-qr'></svg>", deep_link="corepass:sign/abc")
    html = get(t, PHONE_UA).content.decode()
    assert re.search(r'id="deep-link" href="corepass:sign/abc"[^>]*>Open CorePass<', html)
    assert html.index('id="deep-link"') < html.index("<details") < html.index("the-qr")
    assert "Use another phone instead" in html


def test_it_gives_portmone_a_button_on_a_phone_built_from_the_request_code(
    merchant: Any, settings: Any
) -> None:
    settings.PORTMONE_APP_LINK_FORMAT = "https://app.portmone.example/share?code={code}"
    assert app_link("AB 12/3") == "https://app.portmone.example/share?code=AB%2012%2F3"
    assert app_link("https://pay.example/c/1") == "https://pay.example/c/1"  # already a link
    assert app_link("") == ""
    settings.PORTMONE_APP_LINK_FORMAT = ""
    assert app_link("AB12") == ""  # no format: no button rather than a wrong one
    settings.PORTMONE_APP_LINK_FORMAT = "https://app.portmone.example/share?code={code}"
    t = make(merchant, "portmone", qr_svg="<svg id='the-qr'></svg>", deep_link=app_link("AB12"))
    html = get(t, PHONE_UA).content.decode()
    assert re.search(
        r'id="deep-link" href="https://app.portmone.example/share\?code=AB12"[^>]*>Open Portmone<',
        html,
    )


def test_it_words_incode_as_an_id_and_selfie_capture(merchant: Any) -> None:
    t = make(merchant, "incode", qr_svg="<svg></svg>", deep_link="https://id.incodesmile.com/x")
    for ua in (DESKTOP_UA, PHONE_UA):
        html = get(t, ua).content.decode()
        assert "selfie" in html and "identity document" in html
        assert "Incode app" not in html and "approve on your phone" not in html.lower()
    assert "A photo of your identity document" in html and "A selfie" in html  # what is shared


def test_it_says_what_is_asked_and_shared_in_plain_words(merchant: Any) -> None:
    items = ["SH_EMAIL", "SH_Passport_DOB", "SH_ANY_FULLNAME", "SH_IDCard_FaceImage", "SH_BOGUS"]
    pending = make(merchant, items=items)
    html = get(pending).content.decode()
    for words in (
        "Email",
        "Date of birth (passport)",
        "Full name (any identity document)",
        "Photo of your face (ID card)",
        f"Other details asked for by {merchant.name}",
    ):
        assert f"<li>{words}</li>" in html, words
    assert "SH_" not in html
    done = make(merchant, "portmone", status=Status.COMPLETED, items=["age_over_18", "full_name"])
    html = get(done).content.decode()
    assert "What was shared" in html
    assert "<li>That you are over 18 (not your date of birth)</li>" in html
    assert "<li>Full name</li>" in html and "age_over_18" not in html


def test_it_has_a_human_reason_for_every_failure_code_the_code_sets() -> None:
    for code in [*customer.FAILURE_KINDS, "stubbed", ""]:
        reason = customer.failure_reason(code, provider="CorePass", merchant="Shop")
        assert reason and "_" not in reason and "stubbed" not in reason  # never the code
    assert customer.failure_reason("provider_unavailable", provider="CorePass", merchant="S") == (
        "CorePass could not be reached just now. Nothing was shared, "
        "and this link cannot be used again."
    )
    assert customer.failure_reason("FINISH_FAILED", provider="CorePass", merchant="S") == (
        "The sharing was not completed in CorePass. Nothing was shared."
    )


def test_it_shows_a_provider_outage_as_a_human_reason_without_the_url(merchant: Any) -> None:
    t = make(
        merchant,
        status=Status.FAILED,
        failure_code="provider_unavailable",
        status_detail="POST 127.0.0.1:9/down/kyc: provider unreachable",
    )
    html = get(t).content.decode()
    assert "CorePass could not be reached just now." in html
    assert "127.0.0.1:9" not in html and "unreachable" not in html


def test_it_offers_the_merchants_restart_url_or_whom_to_contact(merchant: Any) -> None:
    merchant.support_contact = "help@shop.example"
    merchant.save()
    t = make(merchant, status=Status.EXPIRED)
    html = get(t).content.decode()
    assert 'id="restart"' not in html
    assert f"To try again, ask {merchant.name} for a new link:" in html
    assert 'href="mailto:help@shop.example"' in html
    merchant.restart_url = "https://shop.example/verify"
    merchant.save()
    html = get(t).content.decode()
    assert re.search(r'id="restart" href="https://shop.example/verify"[^>]*>Start again<', html)


def test_it_goes_back_to_the_merchant_after_completion_by_a_data_attribute(
    merchant: Any,
) -> None:
    t = make(merchant, status=Status.COMPLETED, redirect_url="https://shop.example/done")
    html = get(t).content.decode()
    assert 'data-redirect="https://shop.example/done"' in html and 'data-redirect-after="5"' in html
    assert "<script>" not in html and "<script " not in html.replace('<script src="', "")
    plain = make(merchant, status=Status.COMPLETED, redirect_url="http://shop.example/done")
    html = get(plain).content.decode()
    assert "data-redirect=" not in html and "You can close this page now." in html


def test_it_brands_the_page_with_readable_text_and_no_inline_style(merchant: Any) -> None:
    merchant.brand_color = "#ffd400"  # yellow: white text would not read
    merchant.privacy_url = "https://shop.example/privacy"
    merchant.save()
    t = make(merchant)
    html = get(t).content.decode()
    assert 'data-brand="#ffd400"' in html and 'data-brand-ink="#000000"' in html
    assert 'href="https://shop.example/privacy"' in html and merchant.name in html
    assert " style=" not in html and "<style" not in html
    merchant.brand_color = "#0b3d91"  # dark blue: white reads
    merchant.save()
    assert 'data-brand-ink="#ffffff"' in get(t).content.decode()
    assert customer.contrast("#0b3d91", "#ffffff") >= 4.5 > customer.contrast("#ffd400", "#ffffff")
    # Any colour gets a readable pair, mid greys included (white 4.48:1, near-black 4.12:1).
    for color in ("#777777", "#808080", "#ff0000", "#ffffff", "#000000", "not-a-colour"):
        bg, ink = customer.button_colors(color)
        assert customer.contrast(bg, ink) >= 4.5, color


def test_it_announces_status_changes_and_marks_the_language(merchant: Any) -> None:
    html = get(make(merchant)).content.decode()
    assert re.search(r'<div id="status" class="card" aria-live="polite">', html)
    assert '<html lang="en">' in html


def test_it_stamps_the_first_open_once(merchant: Any) -> None:
    t = make(merchant)
    assert t.opened_at is None
    get(t)
    t.refresh_from_db()
    first = t.opened_at
    assert first is not None
    get(t)
    t.refresh_from_db()
    assert t.opened_at == first
    Client().get(f"/t/{t.page_token}/status")  # polls are not opens
    t.refresh_from_db()
    assert t.opened_at == first


def test_it_serves_the_merchants_logo_with_caching_headers(merchant: Any) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    t = make(merchant)
    assert Client().get(f"/t/{t.page_token}/logo").status_code == 404  # none yet
    assert "brand-logo" not in get(t).content.decode()
    merchant.logo, merchant.logo_type = png, "image/png"
    merchant.save()
    assert f'src="/t/{t.page_token}/logo"' in get(t).content.decode()
    r = Client().get(f"/t/{t.page_token}/logo")
    assert r.status_code == 200 and r.content == png and r["Content-Type"] == "image/png"
    assert r["Cache-Control"] == "private, no-cache" and r["X-Content-Type-Options"] == "nosniff"
    again = Client().get(f"/t/{t.page_token}/logo", HTTP_IF_NONE_MATCH=r["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert Client().get("/t/no-such-token/logo").status_code == 404


def test_it_announces_the_return_to_the_merchant_once_not_every_second(merchant: Any) -> None:
    # The visible countdown ticks every second inside the page's live region; it is muted
    # (aria-live="off") and one hidden line, filled once by portal.js, says it instead.
    done = make(
        merchant, "portmone", status=Status.COMPLETED, redirect_url="https://shop.example/back"
    )
    html = get(done).content.decode()
    note = html.split('id="redirect-note"', 1)[1].split(">", 1)[0]
    assert 'aria-live="off"' in note
    assert "data-redirect-announce" in html
