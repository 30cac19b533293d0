"""axe-core (vendored in tests/assets/axe.min.js) run inside a Playwright page.

The customer page's CSP is `script-src 'self'`: a `<script>` tag with axe's source inline
(what `page.add_script_tag(content=...)` or `path=...` writes) is refused by the browser.
Playwright's `page.evaluate` runs through the DevTools protocol, which CSP does not
govern, so axe is evaluated that way; the page keeps its real CSP, so the check sees
exactly what a customer's browser renders.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parent.parent / "assets" / "axe.min.js"

# Impacts that fail a test; "minor" and "moderate" are reported but do not fail.
BLOCKING = ("serious", "critical")


@cache
def _source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def inject(page: Any) -> str:
    """Load axe into the page (once per document); returns axe's version."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # A plain script, evaluated as a statement list: it sets window.axe.
        page.evaluate(_source())
    return str(page.evaluate("() => window.axe.version"))


def violations(page: Any, *, impacts: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """axe's violations of the WCAG 2.x A/AA rules (and best practices) on the page as
    it is now, limited to the given impacts."""
    inject(page)
    result = page.evaluate(
        """async () => {
            const r = await window.axe.run(document, {
                runOnly: {type: 'tag', values: [
                    'wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
                resultTypes: ['violations'],
            });
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '),
                                          summary: n.failureSummary}))}));
        }"""
    )
    return [v for v in result if v["impact"] in impacts]


def describe(found: list[dict[str, Any]]) -> str:
    """One line per violation and node, for an assertion message."""
    lines = []
    for v in found:
        for n in v["nodes"]:
            summary = " ".join(str(n["summary"] or "").split())
            lines.append(f"[{v['impact']}] {v['id']}: {v['help']} at {n['target']}: {summary}")
    return "\n".join(lines)


def assert_no_serious(page: Any, where: str = "") -> None:
    found = violations(page)
    assert not found, f"axe: serious/critical violations{' on ' + where if where else ''}:\n" + (
        describe(found)
    )
