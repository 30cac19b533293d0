"""Every provider with a customer page x every state it reaches, on a phone (390x844) and a
desktop (1280x800), in a real browser: what the customer sees is right for the state and
nothing internal shows (no QR after the end, no raw provider code, no URL, no score, no
staff note, no shared value), and axe-core finds no serious or critical violation.

Screenshots: var/screenshots/customer_test_page_browser.py__<test>-<device>.png."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import translation

from kyc import customer, services
from kyc.contract import StatusUpdate
from kyc.models import TransferRequest
from kyc.status import TERMINAL, Status
from tests.customer import axe
from tests.customer.conftest import (
    INTERNAL_WORDS,
    MERCHANT_SITE,
    RAW_CODES,
    SHARED_VALUES,
    STAFF_NOTE,
    STATES,
    SUPPORT,
    customer_page_providers,
    request_in,
    snap,
    start_request,
    states_of,
)

pytestmark = pytest.mark.browser

DEVICES = ("phone", "desktop")
# Each state is looked at on both devices in English, and on the phone in Ukrainian
# (the browser's language; tests/customer/test_i18n.py covers German and the switcher).
LOOKS = [("phone", "en"), ("desktop", "en"), ("phone", "uk")]
# The desktop's own wording (QR, "continue on this device") is only in the pending state.
PENDING_LOOKS = [*LOOKS, ("desktop", "uk")]

# What the page must say, in English, for each status (a positive control: the checks for
# what must NOT show would pass on an empty page).
SAYS: dict[str, re.Pattern[str]] = {
    Status.PENDING: re.compile(r"\b(scan|open|continue|start)\b", re.I),
    Status.ACCEPTED: re.compile(r"\b(approved|receiving|processing|moment|wait)", re.I),
    Status.PROCESSING: re.compile(r"\b(processing|finishing|moment|almost|wait)", re.I),
    Status.REVIEW: re.compile(r"\b(review|being checked|checking)", re.I),
    Status.COMPLETED: re.compile(r"\b(done|complete|success|shared|verified)", re.I),
    Status.FAILED: re.compile(r"\b(could not|couldn.t|failed|not completed|wrong)", re.I),
    Status.DECLINED: re.compile(r"\bdeclined\b", re.I),
    Status.EXPIRED: re.compile(r"\bexpired\b", re.I),
    Status.REJECTED: re.compile(r"\b(not accepted|could not|couldn.t|rejected|declined)", re.I),
    Status.CANCELLED: re.compile(r"\bcancel", re.I),
}

# The items asked for, in words a customer understands (English).
SHARED_WORDS: dict[str, list[re.Pattern[str]]] = {
    "corepass": [re.compile(r"\bemail\b", re.I), re.compile(r"date of birth", re.I)],
    "portmone": [re.compile(r"\bname\b", re.I), re.compile(r"date of birth", re.I)],
    "incode": [
        re.compile(r"\b(ID|identity) (document|card)|passport", re.I),
        re.compile(r"\bselfie|photo of your face|face\b", re.I),
    ],
}

_TEXT_AND_LABELS = """() => {
    const labels = [...document.querySelectorAll('[title],[aria-label],[alt],[placeholder]')]
        .map(e => [e.getAttribute('title'), e.getAttribute('aria-label'),
                   e.getAttribute('alt'), e.getAttribute('placeholder')].join(' '));
    const texts = [];
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walk.nextNode()) texts.push(walk.currentNode.nodeValue);
    return [document.title, ...texts, ...labels].join('\\n');
}"""


def _qr_marker(t: TransferRequest) -> str:
    """A piece of the request's QR drawing that nothing else on the page contains."""
    match = re.search(r'\sd="([^"]{40})', t.qr_svg or "")
    return match.group(1) if match else ""


def _action_links(page: Any) -> list[str]:
    """hrefs of visible links/buttons that take the customer on with the provider (not the
    privacy policy, support, language switcher or the page itself)."""
    hrefs: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('a[href]')]
            .filter(a => a.offsetParent !== null && a.getBoundingClientRect().height > 0)
            .map(a => a.getAttribute('href'))"""
    )
    return [
        h
        for h in hrefs
        if h
        and not h.startswith(("#", "?", "mailto:", "tel:", "/t/", "/i18n/"))
        and "privacy" not in h
        and MERCHANT_SITE not in h
    ]


def look(page: Any, t: TransferRequest, *, device: str, language: str = "en") -> list[str]:
    """Everything wrong with the page as a customer sees it; [] when all is right."""
    problems: list[str] = []
    visible = page.inner_text("body")
    text = page.evaluate(_TEXT_AND_LABELS)
    html = page.content()
    terminal = t.status in TERMINAL

    with translation.override(language):
        status_word = str(customer.STATUS_WORDS[t.status])
    if language == "en" and not SAYS[t.status].search(visible):
        problems.append(f"does not say what happened ({t.status}): {visible[:300]!r}")
    if status_word not in visible:
        problems.append(f"no status word {status_word!r} for {t.status}")
    if language == "uk":
        # Names stay as they are (merchant, providers, e-mail, the switcher's own names);
        # any other Latin word is English nobody translated.
        rest = visible
        for name in (
            t.merchant.name,
            SUPPORT,
            "CorePass",
            "Portmone",
            "Incode",
            "English",
            "Deutsch",
        ):
            rest = rest.replace(name, "")
        english = re.findall(r"[A-Za-z]{3,}", rest)
        if english or not re.search("[А-Яа-яІіЇїЄє]{4}", rest):
            problems.append(f"not all in Ukrainian: {english}")
    if page.locator("html").get_attribute("lang") != language:
        problems.append(f"<html lang> is {page.locator('html').get_attribute('lang')!r}")

    marker = _qr_marker(t)
    if t.status == Status.PENDING:
        if device == "desktop" and marker and marker not in html:
            problems.append("no QR code on the desktop while pending")
        if device == "phone" and not _action_links(page):
            problems.append("no button to continue on the phone while pending")
    else:
        if marker and marker in html:
            problems.append(f"QR code still on the page in {t.status}")
        if re.search(r"\bscan\b|відскан|scannen", visible, re.I):
            problems.append(f"asks to scan in {t.status}")
        if page.locator("[data-expires]").count():
            problems.append(f"countdown still on the page in {t.status}")
    if terminal and page.locator('[hx-trigger*="every"]').count():
        problems.append(f"still polling in {t.status}")

    for code in RAW_CODES:
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(code)}(?![A-Za-z0-9_])", text):
            problems.append(f"raw provider code {code!r} shown")
    for word in INTERNAL_WORDS:
        if word.lower() in text.lower():
            problems.append(f"internal detail {word!r} shown")
    if re.search(r"\bscore\b", text, re.I):
        problems.append("a score is mentioned")
    if re.search(r"\b[0-9a-f]{32,}\b", text):
        problems.append("a hash is shown")
    for value in SHARED_VALUES:
        if value in html:
            problems.append(f"a shared value is in the page: {value!r}")
    if STAFF_NOTE in html:
        problems.append("the staff note is in the page")

    if t.status == Status.PENDING and language == "en":
        for word in SHARED_WORDS[t.provider]:
            if not word.search(visible):
                problems.append(f"does not say in words what will be shared ({word.pattern})")
    if t.status == Status.EXPIRED and SUPPORT not in visible:
        problems.append("expired without a way on (no restart link, no support contact)")
    if t.status == Status.COMPLETED and t.redirect_url:
        if not page.locator(f'a[href="{t.redirect_url}"]').count():
            problems.append("completed without the button back to the merchant")

    found = axe.violations(page)
    if found:
        problems.append("axe:\n" + axe.describe(found))
    return problems


def test_it_covers_every_provider_with_a_customer_page() -> None:
    # A new provider that starts verifications joins the matrix (its items need words).
    assert customer_page_providers() == ["corepass", "incode", "portmone"]


@pytest.mark.parametrize("provider", customer_page_providers())
def test_it_shows_every_state_right_on_a_phone_and_a_desktop(
    provider: str,
    sandbox_accounts: Any,
    branded_merchant: Any,
    device_page: Any,
    request: Any,
) -> None:
    """One test per provider walks all its states (one database flush and one sandbox start,
    not one per state); every state is checked on both devices and all problems are
    reported together."""
    started = start_request(branded_merchant, provider, redirect_url=f"{MERCHANT_SITE}/kyc/done")
    assert started.status == Status.PENDING and started.qr_svg, started.status_detail
    pages = {look: device_page(*look) for look in PENDING_LOOKS}
    problems: dict[str, list[str]] = {}
    for state in states_of(provider):
        t = request_in(branded_merchant, provider, state, like=started)
        for device, language in PENDING_LOOKS if state.name == "pending" else LOOKS:
            page = pages[(device, language)]
            page.goto(_url(t))
            snap(page, request, f"{state.name}-{device}-{language}")
            found = look(page, t, device=device, language=language)
            problems[f"{state.name} on the {device} in {language}"] = found
    assert {where: found for where, found in problems.items() if found} == {}
    assert len(problems) == len(LOOKS) * len(states_of(provider)) + 1


def _url(t: TransferRequest) -> str:
    return services.transfer_page_url(t)


def test_it_swaps_the_whole_card_when_the_request_completes_while_open(
    sandbox_accounts: Any, branded_merchant: Any, device_page: Any, request: Any
) -> None:
    t = start_request(branded_merchant, "portmone", redirect_url=f"{MERCHANT_SITE}/kyc/done")
    page = device_page("desktop")
    visits: list[str] = []

    def merchant_site(route: Any) -> None:
        visits.append(route.request.url)
        route.fulfill(status=204, body="")  # stay on the page (see conftest._stay)

    page.route(f"{MERCHANT_SITE}/**", merchant_site)
    page.goto(_url(t))
    marker = _qr_marker(t)
    assert marker and marker in page.content()  # positive control: the QR is there
    page.evaluate("window.__sameDocument = true")

    services.transfer_apply(
        transfer_id=t.pk,
        update=StatusUpdate(
            status=Status.COMPLETED, provider_status="facts_received", provider_rank=3
        ),
        source="callback",
    )
    page.wait_for_function(
        "marker => !document.documentElement.innerHTML.includes(marker)",
        arg=marker,
        timeout=15_000,
    )
    assert page.evaluate("window.__sameDocument === true")  # swapped in place, no reload
    t.refresh_from_db()
    snap(page, request, "desktop")
    assert look(page, t, device="desktop") == []
    # ... and after a few seconds the customer is taken back to the merchant.
    page.wait_for_timeout(100)
    deadline = 12_000
    while not visits and deadline > 0:
        page.wait_for_timeout(250)
        deadline -= 250
    assert visits == [f"{MERCHANT_SITE}/kyc/done"]


def _tab_stops(page: Any, limit: int = 12) -> list[dict[str, Any]]:
    """Press Tab from the top of the page; what gets focus each time, and whether the focus
    can be seen (an outline or a ring), until focus leaves the page or comes round."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    stops: list[dict[str, Any]] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || el === document.body) return null;
                const s = getComputedStyle(el);
                const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
                const ring = s.boxShadow && s.boxShadow !== 'none';
                return {id: el.id, tag: el.tagName.toLowerCase(),
                        text: (el.innerText || '').trim().slice(0, 40),
                        href: el.getAttribute('href') || '', visible: outline || ring};
            }"""
        )
        if stop is None or (stops and stop == stops[0]):
            break
        stops.append(stop)
    return stops


def test_it_can_be_used_with_the_keyboard_alone(
    sandbox_accounts: Any, branded_merchant: Any, device_page: Any, request: Any
) -> None:
    t = start_request(branded_merchant, "portmone")
    phone = device_page("phone")
    phone.goto(_url(t))
    stops = _tab_stops(phone)
    assert stops, "nothing on the page takes the keyboard focus"
    # The way forward comes first, before the footer's links and the language buttons.
    assert stops[0]["id"] == "deep-link", stops
    assert [s for s in stops if not s["visible"]] == [], "focus that cannot be seen"
    # The other-phone QR opens from the keyboard.
    other = next(i for i, s in enumerate(stops) if s["tag"] == "summary")
    phone.evaluate("() => document.activeElement.blur()")
    for _ in range(other + 1):
        phone.keyboard.press("Tab")
    phone.keyboard.press("Enter")
    assert phone.locator("details.other-device").get_attribute("open") is not None
    assert phone.locator("#qr svg").is_visible()
    snap(phone, request, "phone-keyboard")

    desktop = device_page("desktop")
    desktop.goto(_url(t))
    stops = _tab_stops(desktop)
    assert stops[0]["id"] == "deep-link", stops
    assert [s for s in stops if not s["visible"]] == [], "focus that cannot be seen"
    assert any(s["tag"] == "button" and s["text"] == "Українська" for s in stops)


def test_it_shows_a_plain_page_for_an_unknown_link(
    public_url: str, device_page: Any, request: Any
) -> None:
    page = device_page("phone")
    response = page.goto(f"{public_url}/t/no-such-request-0000/")
    assert response is not None and response.status == 404
    visible = page.inner_text("body")
    assert not re.search(r"Django|Traceback|urlconf|DEBUG|Http404", page.content())
    assert re.search(r"not found|no longer|does not exist|link", visible, re.I), visible
    snap(page, request, "phone")
    axe.assert_no_serious(page, "the 404 page")


# Light, mid-grey (where neither white nor near-black text reaches 4.5:1 unless the ink is
# chosen with care), saturated and dark brand colours.
BRAND_COLOURS = ["#ffd500", "#777777", "#7b7b7b", "#00ff00", "#e0457b", "#111111"]


def test_it_keeps_text_readable_on_any_brand_colour(
    sandbox_accounts: Any, branded_merchant: Any, device_page: Any, request: Any
) -> None:
    pending = start_request(branded_merchant, "portmone")
    done = request_in(
        branded_merchant, "portmone", next(s for s in STATES if s.name == "completed")
    )
    page = device_page("phone")
    problems = {}
    for colour in BRAND_COLOURS:
        branded_merchant.brand_color = colour
        branded_merchant.save(update_fields=["brand_color"])
        for t in (pending, done):
            page.goto(_url(t))
            assert (
                page.evaluate(
                    "() => getComputedStyle(document.documentElement).getPropertyValue('--brand')"
                ).strip()
                == colour
            )  # positive control: the colour is applied
            found = axe.violations(page)
            if found:
                problems[f"{colour} {t.status}"] = axe.describe(found)
                snap(page, request, f"{colour.lstrip('#')}-{t.status}")
    assert problems == {}
