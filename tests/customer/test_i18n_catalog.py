"""Every string the customer can see is translated into Ukrainian and German.

The msgids are extracted from the customer-facing sources the way `makemessages` does
(templates through Django's templatize, then xgettext with Django's keywords), so a new
string that nobody translated fails here, not in front of a customer. The committed .mo
files must say what the .po files say (`manage.py compilemessages` after editing a .po).
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import polib
import pytest
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parent.parent.parent
LANGUAGES = ("uk", "de")
NPLURALS = {"uk": 4, "de": 2}

# What a customer (or anyone holding a customer link) can see.
CUSTOMER_TEMPLATES = [
    *sorted((ROOT / "templates/kyc/customer").rglob("*.html")),
    *(ROOT / "templates" / name for name in ("404.html", "410.html", "500.html", "_error.html")),
]
CUSTOMER_PYTHON = [ROOT / "kyc/customer.py", ROOT / "kyc/views.py", ROOT / "kyc/status.py"]

# makemessages' keywords for Python and templatized templates (xgettext adds its own
# defaults: gettext, ngettext, _ ...).
KEYWORDS = [
    "gettext_noop",
    "gettext_lazy",
    "ngettext_lazy:1,2",
    "pgettext:1c,2",
    "npgettext:1c,2,3",
    "pgettext_lazy:1c,2",
    "npgettext_lazy:1c,2,3",
]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
CYRILLIC = re.compile(r"[А-Яа-яІіЇїЄєҐґ]")


def po_path(language: str) -> Path:
    return ROOT / "locale" / language / "LC_MESSAGES" / "django.po"


@cache
def customer_msgids() -> tuple[tuple[str | None, str, str], ...]:
    """(context, msgid, msgid_plural) of every translatable customer-facing string."""
    xgettext = shutil.which("xgettext")
    assert xgettext, "xgettext is missing: install GNU gettext (`apt-get install gettext`)"
    work = ROOT / "var" / "i18n-check"
    work.mkdir(parents=True, exist_ok=True)
    sources = []
    for template in CUSTOMER_TEMPLATES:
        assert template.exists(), template
        out = work / (template.relative_to(ROOT).as_posix().replace("/", "__") + ".py")
        out.write_text(templatize(template.read_text(encoding="utf-8"), origin=str(template)))
        sources.append(out)
    sources += [p for p in CUSTOMER_PYTHON if p.exists()]
    result = subprocess.run(
        [
            xgettext,
            "--language=Python",
            "--from-code=UTF-8",
            "--output=-",
            *(f"--keyword={k}" for k in KEYWORDS),
            *map(str, sources),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    pot = polib.pofile(result.stdout)
    return tuple((e.msgctxt, e.msgid, e.msgid_plural) for e in pot if e.msgid)


@cache
def catalogue(language: str) -> dict[tuple[str | None, str], Any]:
    po = polib.pofile(str(po_path(language)))
    return {(e.msgctxt, e.msgid): e for e in po if not e.obsolete}


def test_it_finds_the_customer_pages_strings() -> None:
    # Positive control: the extraction sees strings from templates and from Python.
    ids = {msgid for _, msgid, _ in customer_msgids()}
    assert len(ids) > 50
    assert "Continue on this device" in ids  # templates/kyc/customer/states/pending.html
    assert "Waiting for you" in ids  # kyc/customer.py


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_translates_every_customer_string(language: str) -> None:
    po = catalogue(language)
    problems = []
    for context, msgid, plural in customer_msgids():
        entry = po.get((context, msgid))
        if entry is None:
            problems.append(f"not in the .po (run makemessages): {msgid!r}")
            continue
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {msgid!r}")
        forms = (
            [entry.msgstr_plural.get(n, "") for n in range(NPLURALS[language])]
            if plural
            else [entry.msgstr]
        )
        if not all(f.strip() for f in forms):
            problems.append(f"untranslated: {msgid!r}")
            continue
        wanted = set(PLACEHOLDER.findall(plural or msgid))
        for form in forms:
            if set(PLACEHOLDER.findall(form)) != wanted:
                problems.append(f"placeholders differ: {msgid!r} -> {form!r}")
            words = PLACEHOLDER.sub("", msgid)
            if re.search("[A-Za-z]{3}", words):
                if language == "uk" and not CYRILLIC.search(form):
                    problems.append(f"not Ukrainian: {msgid!r} -> {form!r}")
                if language == "de" and form == msgid:
                    problems.append(f"left in English: {msgid!r}")
    assert problems == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_ships_compiled_catalogues_that_match_the_po(language: str) -> None:
    mo = po_path(language).with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing: run `manage.py compilemessages --ignore=.venv`"
    with mo.open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    stale = []
    for entry in catalogue(language).values():
        if not entry.msgid or "fuzzy" in entry.flags or not entry.translated():
            continue
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        if entry.msgid_plural:
            for n, expected in entry.msgstr_plural.items():
                count = {"uk": (1, 2, 5, 0.5), "de": (1, 2)}[language][int(n)]
                got = compiled.ngettext(key, entry.msgid_plural, count)  # type: ignore[arg-type]
                if got != expected:
                    stale.append(entry.msgid)
        elif compiled.gettext(key) != entry.msgstr:
            stale.append(entry.msgid)
    assert stale == [], "the .mo is older than the .po: run `manage.py compilemessages`"


def test_it_compiles_the_catalogues_like_make_test_even_with_production_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # make test runs this before pytest; a DATABASE_URL without SECRET_KEY (production
    # settings) must not stop it, since compiling needs no settings at all.
    from scripts import with_services

    assert shutil.which("msgfmt"), (
        "msgfmt is missing: install GNU gettext (`apt-get install gettext`)"
    )
    for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "portal.settings")
    po = po_path("de")
    with_services.compile_translations(root=False)  # raises if compilemessages failed
    assert po.with_suffix(".mo").stat().st_mtime >= po.stat().st_mtime
