"""Render "What we promise and how we test it" into README.md from var/promises.json.

The test suite writes the figures (tests/faults/promise_log.py); this script only
formats them, so the table never holds a number typed by hand.

    .venv/bin/python scripts/promises.py            # update README.md between the markers
    .venv/bin/python scripts/promises.py --print    # print the table only
    .venv/bin/python scripts/promises.py --check    # exit 1 if README.md is out of date

README.md without the markers (or without README.md) is left untouched: the
table is printed and a note says where the markers go.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "var" / "promises.json"
README = ROOT / "README.md"
START, END = "<!-- promises:start -->", "<!-- promises:end -->"

# Every fault-tolerance promise the README makes (what survives a crash, an outage or a slow
# provider), in the order the README lists them.
PROMISES: list[tuple[str, str]] = [
    (
        "worker_killed",
        "A worker killed (SIGKILL) mid pull, reconciliation or issuance: the work is redone after restart and its effect happens once",
    ),
    (
        "redis_down",
        "Redis stopped while a delivery arrives: it is accepted and committed; the sweeper enqueues it once Redis is back; processed exactly once",
    ),
    (
        "postgres_down",
        "PostgreSQL unavailable: deliveries get a 5xx so the provider retries, /healthz names the database, nothing is half-written",
    ),
    (
        "provider_slow",
        "A provider answering slowly or with 5xx: bounded timeouts, retries with backoff, never a hot loop; countdowns never exceed the visibility timeout",
    ),
    (
        "staff_visibility",
        "Per-delivery and per-task state visible to staff in the admin, with a reprocess action",
    ),
    (
        "webhook_bad_input",
        "Every webhook and callback endpoint answers bad input (empty, invalid JSON, wrong type, 10 MB, bad/missing signature, replay, expired, unknown token or request) with a clear 4xx and a kept record, never a 500",
    ),
    (
        "parser_properties",
        "Signature and CoreID parsers never crash and accept only what they should (hypothesis)",
    ),
    (
        "api_fuzz",
        "The REST API fuzzed from its own OpenAPI schema with two merchants' keys: no 500s, no schema violations",
    ),
    (
        "isolation_matrix",
        "Merchant B's key or staff user gets 404 for merchant A's objects on every API endpoint and admin model, and never sees them in lists, filters or autocomplete",
    ),
    (
        "secrets_in_logs",
        "Provider secrets and PII never appear in logs, error pages, admin history or exception reports",
    ),
    (
        "key_rotation",
        "Key rotation: encrypt with K1, add K2, rotate, remove K1, every encrypted field of every model still reads; a wrong key fails loudly",
    ),
    (
        "audit",
        "Every PII reveal and every provider-account change leaves an audit entry (who, what, when) without the secret",
    ),
    (
        "retention",
        'Each merchant\'s retention period erases expired PII daily, and "erase this customer" does it at once; remaining rows say what was erased and when',
    ),
    (
        "outbox_delivery",
        "Outgoing webhooks: each committed change reaches each subscribed endpoint at least once, signed, with one `webhook-id` on every retry, through a worker SIGKILLed mid send and Redis stopped mid send",
    ),
    (
        "rate_limits",
        "Public endpoints (customer pages, webhooks per token) are rate limited through the shared Redis cache (429)",
    ),
    (
        "deploy_headers",
        "`check --deploy` is clean with production settings; CSP, HSTS and frame denial on every page",
    ),
]


def _figure(figures: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {unit}" for unit, n in figures.items()) or "—"


def _tests(tests: list[str]) -> str:
    return "<br>".join(f"`{t}`" for t in tests)


def render(data: dict) -> str:
    lines = [
        "| Promise | Proven by | Figure held |",
        "|---|---|---|",
    ]
    for pid, text in PROMISES:
        entry = data.get(pid)
        if entry:
            lines.append(f"| {text} | {_tests(entry['tests'])} | {_figure(entry['figures'])} |")
        else:
            lines.append(f"| {text} | not proven by the last run | — |")
    stamps = sorted(e.get("at", "") for e in data.values() if isinstance(e, dict))
    if stamps:
        lines.append("")
        lines.append(
            f"_Figures from the test run of {stamps[-1]} (`make test`, then `python scripts/promises.py`)._"
        )
    return "\n".join(lines)


def splice(readme: str, table: str) -> str | None:
    """README text with the table between the markers, or None when the markers are missing."""
    start = readme.find(START)
    end = readme.find(END, start + len(START)) if start != -1 else -1
    if start == -1 or end == -1:
        return None
    return readme[: start + len(START)] + "\n" + table + "\n" + readme[end:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--print", action="store_true", help="print the table, change nothing")
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--readme", type=Path, default=README)
    args = ap.parse_args(argv)

    try:
        data = json.loads(args.data.read_text())
    except FileNotFoundError:
        print(f"{args.data} does not exist yet: run `make test` first.", file=sys.stderr)
        data = {}
    except ValueError as exc:
        print(f"{args.data} is not valid JSON ({exc}); run `make test` again.", file=sys.stderr)
        return 1
    table = render(data)
    if args.print:
        print(table)
        return 0
    if not args.readme.exists():
        print(table)
        print(f"\n{args.readme} does not exist: table printed, nothing written.", file=sys.stderr)
        return 0
    current = args.readme.read_text()
    updated = splice(current, table)
    if updated is None:
        print(table)
        print(
            f"\n{args.readme.name} has no `{START}` … `{END}` markers: table printed, "
            "README left unchanged. Add the two markers where the table belongs.",
            file=sys.stderr,
        )
        return 0
    if args.check:
        if updated != current:
            print(f"{args.readme.name} is out of date: run scripts/promises.py", file=sys.stderr)
            return 1
        return 0
    if updated != current:
        args.readme.write_text(updated)
        print(f"Updated the promises table in {args.readme.name}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
