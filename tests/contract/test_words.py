"""Code, comments and docs speak of the project only.

They name the provider's documents for what they are ("Blockpass's published sample",
"Incode's integration guide"), never the material the project was started from, numbered
work items or work sessions, and never point at directories outside the repository as the
place where something lives. Seeding bench data (bench/seed.py and its callers) is the one
meaning of "seed" that belongs to the project; it is allowed by exact code shapes below.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("kyc", "portal", "providers", "bench", "scripts", "templates", "tests", "README.md")
SUFFIXES = {".py", ".md", ".html", ".txt", ".toml", ".json"}
THIS_FILE = Path(__file__).resolve()

FORBIDDEN = re.compile(
    r"\bseed\b|the_seed"  # also "seed's", "(seed)", "seed vectors", test_..._of_the_seed
    r"|\bissue\s*#\s*\d*|\bissue [0-9]+"
    r"|PROVIDER-FACTS"
    r"|\.\./shared"
    r"|\bsessions? [0-9]+\b|\bother sessions\b",
    re.IGNORECASE,
)
# Code shapes where "seed" is the project's own: the bench seeding module and its calls,
# a key derived from a seed, the published file name of the CorePass sample vectors.
ALLOWED = re.compile(
    r"^\s*from bench import seed$"
    r"|\bseed\.[a-z_]+\("
    r"|\bseed\.py\b"
    r"|\bseed = hashlib\.shake_256\("
    r"|corepass-seed-samples\.json",
)


def findings(text: str) -> list[str]:
    """Each line that still has a forbidden word once the allowed code shapes are removed."""
    return [
        f"{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if FORBIDDEN.search(ALLOWED.sub("", line))
    ]


def project_files() -> list[Path]:
    """Tracked files plus new ones not ignored, so a file is checked before its first commit."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *SCANNED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    paths = {(ROOT / name).resolve() for name in listing}
    return sorted(p for p in paths if p.suffix in SUFFIXES and p.is_file() and p != THIS_FILE)


def test_it_finds_no_seed_issue_or_session_words_in_the_project() -> None:
    files = project_files()
    assert len(files) > 100, f"only {len(files)} files listed: is this a git checkout?"
    problems = [
        f"{path.relative_to(ROOT)}:{hit}"
        for path in files
        for hit in findings(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not problems, "\n".join(problems)


def test_it_catches_a_planted_line() -> None:
    planted = [
        "# The seed's sample payload, as printed.",
        "Defaults of the seed (release 2.3.5).",
        "help_text=f'Default (seed): {default}'",
        "    # Issue 17: a GET only shows the form",
        "never reflected (issue 13).",
        "see issue #4",
        "def test_it_accepts_the_coreids_of_the_seed() -> None:",
        "Wire format (PROVIDER-FACTS): POST JSON",
        "vectors live in ../shared/vectors",
        "measured in session 12",
        "shared with seven other sessions' test runs",
    ]
    assert [hit.split(": ", 1)[1] for hit in findings("\n".join(planted))] == [
        line.strip() for line in planted
    ]


def test_it_lets_the_bench_seeding_code_through() -> None:
    allowed = [
        "from bench import seed",
        "def seed_transfers(*, accounts: list, count: int, batch: str) -> None:",
        "path), seed.py, load.py (wrk), stats.py",
        "    account = seed.merchant_account(provider='blockpass', settings=settings)",
        "    seed = hashlib.shake_256(b'corepass-sandbox-connector:' + key)",
        'VECTORS = VECTORS_DIR / "corepass-seed-samples.json"',
        "the sunbird issue call and its reissue",
        "the browser session cookie",
    ]
    assert findings("\n".join(allowed)) == []
    # The allowance removes only the code shape: prose on the same line is still read.
    assert findings("account = seed.merchant_account()  # the seed's account") != []
