"""Readable evidence in the admin: JSON as key/value tables, times with seconds and offset.

`{{ value|kv_table }}` renders a dict/list (or a JSON string) as nested tables; every key and
value is escaped. `{{ when|stamp }}` renders a datetime as `2026-12-01 14:33:46 UTC+00:00`
in the reviewer's time zone (the portal's TIME_ZONE, which the timezone middleware may
switch per request), so a reader always knows the offset.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

MAX_DEPTH = 6
MAX_ITEMS = 200


def stamp(value: Any) -> str:
    """`YYYY-MM-DD HH:MM:SS <zone><offset>` in the current time zone; '—' for none."""
    if not isinstance(value, dt.datetime):
        return "—" if value in (None, "") else str(value)
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    offset = value.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else ""
    zone = value.tzname() or ""
    label = f"{zone}{offset}" if zone in ("UTC", "") else f"{zone} (UTC{offset})"
    return f"{value:%Y-%m-%d %H:%M:%S} {label}".strip()


register.filter("stamp", stamp)


def _scalar(value: Any) -> SafeString:
    if value is None:
        return mark_safe('<span class="kv-null">—</span>')  # noqa: S308  (a constant)
    if isinstance(value, bool):
        return format_html('<span class="kv-bool">{}</span>', "yes" if value else "no")
    return format_html("{}", value)


def _table(value: Any, depth: int) -> SafeString:
    if depth > MAX_DEPTH:
        return format_html("<code>{}</code>", json.dumps(value, default=str)[:500])
    if isinstance(value, dict):
        if not value:
            return mark_safe('<span class="kv-null">(empty)</span>')  # noqa: S308
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td></tr>',
            ((k, _table(v, depth + 1)) for k, v in list(value.items())[:MAX_ITEMS]),
        )
        return format_html('<table class="kv-table"><tbody>{}</tbody></table>', rows)
    if isinstance(value, list | tuple):
        if not value:
            return mark_safe('<span class="kv-null">(none)</span>')  # noqa: S308
        if all(not isinstance(v, dict | list | tuple) for v in value):
            return format_html_join(", ", "{}", ((_scalar(v),) for v in value[:MAX_ITEMS]))
        items = format_html_join(
            "", "<li>{}</li>", ((_table(v, depth + 1),) for v in value[:MAX_ITEMS])
        )
        return format_html('<ol class="kv-list">{}</ol>', items)
    return _scalar(value)


@register.filter
def kv_table(value: Any) -> SafeString:
    """A dict, list or JSON text as an escaped key/value table."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return format_html("{}", value)
    return _table(value, 0)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """`{{ mapping|get_item:key }}` for dicts keyed by ids (e.g. revealed values)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None
