"""scripts/promises.py renders the suite's figures into README.md between the markers,
and leaves a README without markers untouched."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("promises_script", ROOT / "scripts" / "promises.py")
promises = importlib.util.module_from_spec(spec)
spec.loader.exec_module(promises)

DATA = {
    "redis_down": {
        "tests": ["tests/faults/test_redis_down.py::test_it_x"],
        "figures": {"deliveries survived": 1200},
        "at": "2026-11-23T03:00:00+00:00",
    }
}


def test_it_renders_every_promise_with_figures_or_a_gap() -> None:
    table = promises.render(DATA)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "Promise" not in line]
    assert len(rows) == len(promises.PROMISES)
    assert "`tests/faults/test_redis_down.py::test_it_x` | 1,200 deliveries survived |" in table
    assert table.count("not proven by the last run") == len(promises.PROMISES) - 1


def test_it_replaces_only_what_is_between_the_markers(tmp_path) -> None:
    data, readme = tmp_path / "p.json", tmp_path / "README.md"
    data.write_text(json.dumps(DATA))
    readme.write_text(f"# Title\n\n{promises.START}\nold table\n{promises.END}\n\n## After\n")
    assert promises.main(["--data", str(data), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n") and text.endswith("## After\n") and "old table" not in text
    assert "1,200 deliveries survived" in text
    assert promises.main(["--check", "--data", str(data), "--readme", str(readme)]) == 0
    readme.write_text(text.replace("1,200", "9"))
    assert promises.main(["--check", "--data", str(data), "--readme", str(readme)]) == 1


def test_it_leaves_a_readme_without_markers_alone(tmp_path, capsys) -> None:
    data, readme = tmp_path / "p.json", tmp_path / "README.md"
    data.write_text(json.dumps(DATA))
    readme.write_text("# No markers here\n")
    assert promises.main(["--data", str(data), "--readme", str(readme)]) == 0
    assert readme.read_text() == "# No markers here\n"
    out = capsys.readouterr()
    assert "| Promise |" in out.out and "no `<!-- promises:start -->`" in out.err
    # nor a missing README or missing figures
    assert (
        promises.main(["--data", str(tmp_path / "none.json"), "--readme", str(tmp_path / "x.md")])
        == 0
    )
