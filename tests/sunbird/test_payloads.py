"""Stored Sunbird answers, each run through its parser with a one-line helper."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from providers.sunbird import client

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def test_it_reads_root_orgs_from_org_search() -> None:
    orgs = client.parse_orgs(payload("org_search"))
    assert [(o.id, o.channel) for o in orgs] == [
        ("0126876528934010882", "gcert"),
        ("01285019302823526477", "sunbird"),
    ]


def test_it_reads_certificates_from_registry_hits_with_or_without_source() -> None:
    page = client.parse_cert_page(payload("cert_search"), batch_id="b", course_id="c")
    assert page.total == 2
    first, second = page.items
    assert (
        first.id == "8e57723e-4541-11eb-b378-0242ac130002" and first.recipient_name == "Asha Patel"
    )
    assert first.batch_id == "01284169026368307244" and first.download_url.endswith("8e57723e.pdf")
    assert (
        second.recipient_id.startswith("b7e7f9e3") and second.course_id == "do_1128318628712038401"
    )
