"""Server-side SVG charts for the merchant dashboard: geometry here, markup in templates.

No JavaScript and no CDN: the page carries the SVG itself (with <title>/<desc> for
screen readers) and the numbers again as a table. Functions take the dashboard
selectors' aggregates and return plain dicts the templates draw.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from kyc.selectors import OUTCOME_LABELS, OUTCOMES

# Colours (also in the legend); each outcome also has a text label, colour is never alone.
OUTCOME_COLOURS: dict[str, str] = {
    "completed": "#17803d",
    "failed": "#b42318",
    "abandoned": "#b7791f",
    "open": "#2f5bea",
}
STAGES: tuple[tuple[str, str], ...] = (
    ("created", "Created"),
    ("opened", "Opened"),
    ("accepted", "Accepted"),
    ("completed", "Completed"),
)
STAGE_COLOURS = ("#9aa5bd", "#6f86d6", "#2f5bea", "#17803d")


def nice_scale(value: int, *, most_ticks: int = 5) -> tuple[int, int]:
    """(axis maximum, tick step): a 1/2/5 x 10^n step giving at most `most_ticks` steps,
    and the smallest multiple of it at or above `value` (at least 4, so one request does
    not fill the chart)."""
    value = max(value, 4)
    exp = 10 ** math.floor(math.log10(value / most_ticks)) if value > most_ticks else 1
    step = next(s * exp for s in (1, 2, 5, 10) if value / (s * exp) <= most_ticks)
    return step * math.ceil(value / step), step


def daily_chart(days: list[dict[str, Any]], *, width: int = 720, height: int = 240) -> dict:
    """Stacked bars per day (outcomes bottom to top in OUTCOMES order)."""
    left, right, top, bottom = 40, 8, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value, step = nice_scale(max((d["total"] for d in days), default=0))
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.72, 1.0)
    bars = []
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        segments = []
        for outcome in OUTCOMES:
            n = d["counts"][outcome]
            if not n:
                continue
            h = plot_h * n / top_value
            y -= h
            segments.append(
                {
                    "outcome": outcome,
                    "label": OUTCOME_LABELS[outcome],
                    "count": n,
                    "colour": OUTCOME_COLOURS[outcome],
                    "y": round(y, 1),
                    "h": round(h, 1),
                }
            )
        day: dt.date = d["day"]
        bars.append(
            {
                "day": day,
                "total": d["total"],
                "x": round(x, 1),
                "w": round(bar_w, 1),
                "segments": segments,
                # a date under every 5th bar and the last one (today)
                "tick": i % 5 == 0 or i == len(days) - 1,
                "tick_x": round(x + bar_w / 2, 1),
                "cells": [d["counts"][o] for o in OUTCOMES],  # the table row, legend order
            }
        )
    grid = [
        {"value": v, "y": round(top + plot_h - plot_h * v / top_value, 1)}
        for v in range(0, top_value + 1, step)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right_x": width - right,
        "baseline": top + plot_h,
        "label_y": height - 8,
        "bars": bars,
        "grid": grid,
        "legend": [
            {
                "outcome": o,
                "label": OUTCOME_LABELS[o],
                "colour": OUTCOME_COLOURS[o],
                "total": sum(d["counts"][o] for d in days),
            }
            for o in OUTCOMES
        ],
        "total": sum(d["total"] for d in days),
    }


def funnel_chart(rows: list[dict[str, Any]], *, width: int = 720) -> dict:
    """One group of four horizontal bars per provider, scaled to its own `created`."""
    label_w, bar_h, gap, group_gap, value_w = 90, 18, 4, 18, 130
    plot_w = width - label_w - value_w
    groups = []
    y = 4
    for r in rows:
        created = r["created"] or 0
        stages = []
        for i, (key, label) in enumerate(STAGES):
            n = r[key] or 0
            share = n / created if created else 0.0
            stages.append(
                {
                    "key": key,
                    "label": label,
                    "count": n,
                    "percent": round(100 * share),
                    "colour": STAGE_COLOURS[i],
                    "y": y,
                    "text_y": y + bar_h - 5,
                    "w": round(max(plot_w * share, 1.0 if n else 0.0), 1),
                }
            )
            y += bar_h + gap
        groups.append(
            {
                "provider": r["provider"],
                "label": r["label"],
                "created": created,
                "stages": stages,
                "title_y": stages[0]["text_y"],
            }
        )
        y += group_gap
    return {
        "width": width,
        "height": max(y, 1),
        "label_w": label_w,
        "value_x": label_w + plot_w + 6,
        "groups": groups,
    }


def review_bars(buckets: list[dict[str, Any]], *, width: int = 440) -> dict:
    """Horizontal bars of the review queue's age buckets."""
    label_w, bar_h, gap, value_w = 110, 16, 6, 40
    plot_w = width - label_w - value_w
    top_value = max((b["count"] for b in buckets), default=0) or 1
    rows = []
    for i, b in enumerate(buckets):
        y = i * (bar_h + gap)
        rows.append(
            {
                **b,
                "y": y,
                "text_y": y + bar_h - 4,
                "w": round(plot_w * b["count"] / top_value, 1),
                # the older the wait, the warmer the colour
                "colour": ("#6f86d6", "#2f5bea", "#b7791f", "#b42318")[min(i, 3)],
            }
        )
    return {
        "width": width,
        "height": len(buckets) * (bar_h + gap),
        "label_w": label_w,
        "value_x": label_w + plot_w + 6,
        "rows": rows,
        "bar_h": bar_h,
    }


def duration_words(value: dt.timedelta | None) -> str:
    """'4 min 12 s', '3 h 5 min', '2 d 4 h'; an em dash for nothing."""
    if value is None:
        return "—"
    seconds = max(int(value.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
