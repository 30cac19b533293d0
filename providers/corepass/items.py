"""The CorePass item catalogue and the portal's any-document syntax (SH_ANY_<FIELD>)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kyc.errors import InvalidInput

# Preference order when the merchant does not care which document.
DOCUMENTS: tuple[str, ...] = ("IDCard", "Passport", "ResidencePermit", "DriverLicense")
DOCUMENT_FIELDS: tuple[str, ...] = (
    "FULLNAME",
    "DOB",
    "ExpiryDate",
    "IssueDate",
    "DocumentNumber",
    "Gender",
    "Country",
    "DocumentImage",
    "FaceImage",
    "AML_Check",
    "AML_Detail",
)
PLAIN: tuple[str, ...] = ("SH_EMAIL", "SH_PHONE")
CATALOGUE: frozenset[str] = frozenset(
    {f"SH_{d}_{f}" for d in DOCUMENTS for f in DOCUMENT_FIELDS} | set(PLAIN)
)
ANY_PREFIX = "SH_ANY_"
_FIELD_BY_UPPER = {f.upper(): f for f in DOCUMENT_FIELDS}
_ITEM_BY_UPPER = {i.upper(): i for i in CATALOGUE}


def normalize_item(raw: str) -> str:
    """The canonical spelling of an item (case-insensitive), or InvalidInput naming it."""
    text = (raw or "").strip()
    upper = text.upper()
    if upper.startswith("ANY_"):
        upper = "SH_" + upper
    if upper.startswith(ANY_PREFIX):
        name = _FIELD_BY_UPPER.get(upper[len(ANY_PREFIX) :])
        if name is None:
            raise InvalidInput(
                f"Unknown any-document item {text!r}; use SH_ANY_<FIELD> with FIELD one of "
                + ", ".join(DOCUMENT_FIELDS)
                + ".",
                field="items",
            )
        return ANY_PREFIX + name
    item = _ITEM_BY_UPPER.get(upper)
    if item is None:
        raise InvalidInput(
            f"Unknown CorePass item {text!r}; use e.g. SH_Passport_DOB, SH_EMAIL or SH_ANY_DOB.",
            field="items",
        )
    return item


def normalize_items(raw: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for r in raw:
        item = normalize_item(r)
        if item not in seen:
            seen.append(item)
    return seen


def parse_list(text: str) -> list[str]:
    """Items from a comma/space separated settings string."""
    return [p for p in (text or "").replace(",", " ").split() if p]


def is_any(item: str) -> bool:
    return item.startswith(ANY_PREFIX)


def any_field(item: str) -> str:
    return item[len(ANY_PREFIX) :]


def candidates(item: str) -> list[str]:
    """Concrete items an any-item may resolve to, in preference order."""
    if not is_any(item):
        return [item]
    return [f"SH_{d}_{any_field(item)}" for d in DOCUMENTS]


def to_ask(items: Sequence[str]) -> list[str]:
    """Everything /verified must be asked about for these items (any-items expanded)."""
    out: list[str] = []
    for item in items:
        for c in candidates(item):
            if c not in out:
                out.append(c)
    return out


def resolve(items: Sequence[str], verified: Iterable[str]) -> tuple[list[str], list[str]]:
    """(concrete items to request, items that cannot be satisfied).

    Several any-items prefer one document that has all of them verified, so the
    answers describe the same document; otherwise each takes its first verified variant.
    """
    have = set(verified)
    any_items = [i for i in items if is_any(i)]
    common = next(
        (d for d in DOCUMENTS if all(f"SH_{d}_{any_field(i)}" in have for i in any_items)),
        None,
    )
    chosen: list[str] = []
    missing: list[str] = []
    for item in items:
        if is_any(item):
            if common is not None:
                pick: str | None = f"SH_{common}_{any_field(item)}"
            else:
                pick = next((c for c in candidates(item) if c in have), None)
            if pick is None:
                missing.append(item)
            elif pick not in chosen:
                chosen.append(pick)
        elif item in have:
            if item not in chosen:
                chosen.append(item)
        else:
            missing.append(item)
    return chosen, missing
