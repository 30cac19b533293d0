"""A branding save reaches customer pages that are already open: their next poll gets a new
card (new ETag, the new colour and contact), not the cached one for up to an hour; other
merchants' pages keep their cached card."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kyc.models import Membership
from tests import factories
from tests.customer.test_branding import FORM
from tests.customer.test_page_views import get, make
from tests.roles.conftest import member_client

pytestmark = pytest.mark.django_db


def poll(t: Any, **headers: Any) -> Any:
    return Client().get(f"/t/{t.page_token}/status", **headers)


def test_it_repaints_open_pages_at_their_next_poll_after_a_branding_save(
    merchant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    owner = member_client(merchant, Membership.Role.OWNER)
    other = factories.MerchantFactory()
    mine, theirs = make(merchant), make(other)
    first, their_first = poll(mine), poll(theirs)
    assert first.status_code == 200 and 'data-brand="#0b6e4f"' not in first.content.decode()
    # control: while nothing changes, the open page's poll is a 304
    assert poll(mine, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    with django_capture_on_commit_callbacks(execute=True):
        r = owner.post("/branding/", {**FORM, "support_contact": "desk@shop.example"})
    assert r.status_code == 302

    after = poll(mine, HTTP_IF_NONE_MATCH=first["ETag"])
    body = after.content.decode()
    assert after.status_code == 200 and after["ETag"] != first["ETag"]
    assert 'data-brand="#0b6e4f"' in body and 'data-brand-ink="#ffffff"' in body
    assert poll(mine, HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 304  # cached again
    page = get(mine).content.decode()
    assert 'data-brand="#0b6e4f"' in page and 'href="mailto:desk@shop.example"' in page
    # another merchant's open page keeps its cached card
    assert poll(theirs, HTTP_IF_NONE_MATCH=their_first["ETag"]).status_code == 304
