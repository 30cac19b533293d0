"""Numbers in, one table out: medians with min and max, ratios of same-run pairs, goal verdicts.

Pure functions, no Django, so the smoke test checks them in milliseconds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Summary:
    """Median of at least one run, with the spread."""

    median: float
    min: float
    max: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("no values to summarise")
        return cls(
            median=float(statistics.median(values)),
            min=float(min(values)),
            max=float(max(values)),
            runs=len(values),
        )


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Run-by-run ratios of interleaved pairs: each pair saw the same machine load."""
    if len(numerators) != len(denominators):
        raise ValueError("ratios need pairs of runs")
    return [n / d if d else math.nan for n, d in zip(numerators, denominators, strict=True)]


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (what load tools report), pct in 0..100."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


# A goal is a comparison with a target, applied to the median.
GOALS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda v, t: v >= t,
    "<=": lambda v, t: v <= t,
    "<": lambda v, t: v < t,
    "==": lambda v, t: v == t,
}


@dataclass
class Figure:
    """One row of the table. `value` is None when the part could not be measured."""

    name: str
    value: Summary | None
    unit: str = ""
    goal: str = ""  # e.g. ">= 0.8"; empty for context rows (baselines, rates)
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    # A second condition of the goal that a median cannot express (e.g. "constant");
    # False makes the row MISSED whatever the median.
    also_met: bool | None = None

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "not available"
        if not self.goal:
            return ""
        if self.also_met is False:
            return "MISSED"
        op, target = parse_goal(self.goal)
        if math.isnan(self.value.median):
            return "MISSED"
        return "met" if GOALS[op](self.value.median, target) else "MISSED"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict
        return data


# A page's GETs at one table size: the queries each ran and its time in ms.
Measured = tuple[list[int], list[float]]


def query_counts(
    small: Mapping[str, Measured],
    full: Mapping[str, Measured],
    *,
    sizes: tuple[str, str],
    goal: str,
    label: str = "{} queries",
) -> dict[str, Figure]:
    """Queries per page (by page name) on the full table: met only if every GET at both sizes
    ran the same number (a count that grows with the rows is the N+1 the figure catches)."""
    figures = {}
    for name, (q_full, _) in full.items():
        q_small = small[name][0]
        constant = len(set(q_small) | set(q_full)) == 1
        figures[name] = Figure(
            label.format(name),
            Summary.of(q_full),
            "queries",
            goal=goal,
            note=(
                f"same count at {sizes[0]} and at {sizes[1]}"
                if constant
                else f"NOT constant: {sorted(set(q_small))} at {sizes[0]}, "
                f"{sorted(set(q_full))} at {sizes[1]}"
            ),
            detail={"constant": constant},
            also_met=constant,
        )
    return figures


def raw_sizes(small: Mapping[str, Measured], full: Mapping[str, Measured]) -> dict[str, Any]:
    """Every GET of both sizes for latest.json: {"small"|"full": {page: {queries, ms}}}."""
    return {
        size: {name: {"queries": q, "ms": t} for name, (q, t) in measured.items()}
        for size, measured in (("small", small), ("full", full))
    }


def parse_goal(goal: str) -> tuple[str, float]:
    """ ">= 0.8" -> (">=", 0.8); anything after the number (", constant") is for people."""
    op, _, rest = goal.strip().partition(" ")
    target = rest.split(",")[0].split()[0] if rest else ""
    if op not in GOALS:
        raise ValueError(f"unknown goal operator in {goal!r}")
    return op, float(target)


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def table(figures: Sequence[Figure]) -> str:
    """A plain-text table: figure, median, min, max, unit, goal, verdict, note."""
    header = ("figure", "median", "min", "max", "unit", "goal", "result", "note")
    rows = [header]
    for f in figures:
        if f.value is None:
            rows.append((f.name, "-", "-", "-", f.unit, f.goal, f.verdict, f.note))
        else:
            v = f.value
            rows.append(
                (
                    f.name,
                    _fmt(v.median),
                    _fmt(v.min),
                    _fmt(v.max),
                    f.unit,
                    f.goal,
                    f.verdict,
                    f.note,
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = []
    for n, r in enumerate(rows):
        cells = [
            r[i].ljust(widths[i]) if i == 0 else r[i].rjust(widths[i]) for i in range(len(widths))
        ]
        cells[4:7] = [r[i].ljust(widths[i]) for i in range(4, 7)]
        lines.append("  ".join(cells + [r[-1]]).rstrip())
        if n == 0:
            lines.append("-" * min(160, len(lines[0]) + 20))
    return "\n".join(lines)
