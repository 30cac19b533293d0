"""Readable evidence: the admin's time, badge and table columns, and links between
records, requests, events and deliveries."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.urls import reverse
from django.utils.html import format_html

import kyc.admin.review as admin_review
from kyc.templatetags.admin_json import kv_table, stamp


def when(value: Any) -> str:
    """A time with seconds and its UTC offset, in the reviewer's time zone (their browser's,
    see portal.middleware.ReviewerTimeZoneMiddleware; else TIME_ZONE)."""
    return format_html('<span class="nowrap">{}</span>', stamp(value))


def when_short(value: Any) -> str:
    """A list column's time: seconds, no offset (the column header names the zone)."""
    text = stamp(value)
    return format_html('<span class="nowrap" title="{}">{}</span>', text, text[:19])


# The zone differs per reviewer, so a list header says "your time"; each cell's title
# carries the full time with its offset.
ZONE = "(your time)"


def time_column(field: str, description: str, *, short: bool = False) -> Any:
    """An admin column (or read-only field) showing the time in `field`: `short` for a
    list, sortable, with the zone in the header; else in full (when)."""

    def show(self: Any, obj: Model) -> str:
        value = getattr(obj, field)
        return when_short(value) if short else when(value)

    if short:
        return admin.display(description=f"{description} {ZONE}", ordering=field)(show)
    return admin.display(description=description)(show)


def badge_column(field: str, description: str) -> Any:
    """An admin column showing the choice in `field` as a coloured badge, sortable; an
    empty value shows as a dash."""

    def show(self: Any, obj: Model) -> str:
        value = getattr(obj, field)
        if not value:
            return "—"
        return admin_review.badge(value, getattr(obj, f"get_{field}_display")())

    return admin.display(description=description, ordering=field)(show)


def table_column(field: str, description: str) -> Any:
    """An admin read-only field showing the dict in `field` as a key/value table."""

    def show(self: Any, obj: Model) -> str:
        return kv_table(getattr(obj, field))

    return admin.display(description=description)(show)


def review_link(record_id: int | None, text: Any) -> str:
    """A link to a record's review page (all its evidence), or a dash without a record."""
    if record_id is None:
        return "—"
    url = reverse("admin:kyc_kycrecord_review", args=[record_id])
    return format_html('<a href="{}">{}</a>', url, text)


def admin_link(obj: Model | None, text: Any = None) -> str:
    """A link to the admin change page of `obj` (its str, or `text`)."""
    if obj is None:
        return "—"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if text is None else text)


def changelist_link(model: Any, text: str, **filters: Any) -> str:
    from urllib.parse import urlencode

    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(filters), text)
