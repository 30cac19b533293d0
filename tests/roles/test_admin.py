"""The admin x every role: view / add / change / delete and every action of every
registered model, then the escalations end to end (own role, another owner, merchants,
stored history, actions a role may not use, the "view on site" shortcut).

Models come from `admin.site._registry`: a model admin registered without a rule here
fails test_it_has_a_rule_for_every_admin_model.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client, RequestFactory
from django.urls import reverse

from kyc.models import (
    AuditEntry,
    IdentityField,
    InboundEvent,
    KYCRecord,
    Membership,
    Merchant,
    TransferEvent,
    TransferRequest,
)
from kyc.status import Status
from tests import factories
from tests.isolation.builder import Builder, exact_filters
from tests.roles.conftest import ADMIN, COMPLIANCE, OWNER, ROLES, VIEWER

pytestmark = pytest.mark.django_db

SUPERUSER = "superuser"
ALL = {OWNER, ADMIN, COMPLIANCE, VIEWER, SUPERUSER}
MANAGE = {OWNER, ADMIN, SUPERUSER}
REVIEW = {OWNER, COMPLIANCE, SUPERUSER}
RETRY = {OWNER, ADMIN, COMPLIANCE, SUPERUSER}
ONLY_SUPERUSER = {SUPERUSER}
NOBODY: set[str] = set()

# model label -> operation -> who may. The specification, independent of kyc/admin/.
ADMIN_RULES: dict[str, dict[str, Any]] = {
    "kyc.Merchant": {
        "view": ALL,
        "add": ONLY_SUPERUSER,
        "change": MANAGE,
        "delete": ONLY_SUPERUSER,
        "actions": {"delete_selected": ONLY_SUPERUSER},
    },
    "kyc.Membership": {
        "view": ALL,
        "add": MANAGE,
        "change": MANAGE,
        "delete": MANAGE,
        "actions": {"delete_selected": MANAGE},
    },
    "kyc.ApiKey": {"view": MANAGE, "change": MANAGE, "actions": {"revoke": MANAGE}},
    "kyc.ProviderAccount": {"view": MANAGE, "change": MANAGE},
    "kyc.KYCRecord": {"view": ALL, "change": REVIEW, "actions": {"erase_pii": REVIEW}},
    "kyc.IdentityField": {"view": ALL},
    "kyc.CertPromise": {"view": ALL, "actions": {"retry_pull": RETRY}},
    "kyc.Certificate": {
        "view": ALL,
        "change": REVIEW,
        "delete": ONLY_SUPERUSER,  # evidence: superusers only, audited
        "actions": {"delete_selected": ONLY_SUPERUSER},
    },
    "kyc.TransferRequest": {"view": ALL, "actions": {"approve": REVIEW, "reject": REVIEW}},
    "kyc.TransferEvent": {
        "view": ALL,
        "delete": ONLY_SUPERUSER,
        "actions": {"delete_selected": ONLY_SUPERUSER},
    },
    "kyc.InboundEvent": {
        "view": ALL,
        "delete": ONLY_SUPERUSER,
        "actions": {
            "reprocess": RETRY,
            "choose_delivery": REVIEW,
            "delete_selected": ONLY_SUPERUSER,
        },
    },
    "kyc.AuditEntry": {
        "view": ALL,
        "delete": ONLY_SUPERUSER,
        "actions": {"delete_selected": ONLY_SUPERUSER},
    },
    "kyc.WebhookDelivery": {"view": MANAGE, "actions": {"replay": MANAGE}},
    "kyc.StaffTOTPDevice": {  # staff authenticators: a superuser removes a lost one
        "view": ONLY_SUPERUSER,
        "delete": ONLY_SUPERUSER,
        "actions": {"delete_selected": ONLY_SUPERUSER},
    },
    "kyc_incode.IncodeReview": {"view": REVIEW},
    "kyc_sunbird.KeyReservation": {
        "view": ALL,
        "add": MANAGE,
        "change": MANAGE,
        "delete": MANAGE,
        "actions": {"delete_selected": MANAGE},
    },
    "kyc_sunbird.IssuanceRun": {
        "view": ALL,
        "actions": {"resume": MANAGE, "resubmit_issue": MANAGE},
    },
    "kyc_sunbird.IssuanceStep": {"view": ALL},
}


def kyc_admins() -> dict[str, tuple[type[models.Model], admin.ModelAdmin]]:
    return {
        model._meta.label: (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label.startswith("kyc")
    }


def test_it_has_a_rule_for_every_admin_model() -> None:
    assert set(kyc_admins()) == set(ADMIN_RULES)


def _user(merchant: Merchant, who: str) -> Any:
    if who == SUPERUSER:
        return factories.UserFactory(is_staff=True, is_superuser=True)
    return factories.staff_user(merchant, reveal=True, role=who)


@pytest.mark.parametrize("who", [*ROLES, SUPERUSER])
@pytest.mark.parametrize("label", sorted(ADMIN_RULES))
def test_it_lets_each_role_do_only_its_part_in_the_admin(label: str, who: str) -> None:
    merchant = factories.MerchantFactory()
    model, model_admin = kyc_admins()[label]
    obj = Builder(merchant, "roles").get(model)
    request = RequestFactory().get("/admin/")
    request.user = _user(merchant, who)
    rules = ADMIN_RULES[label]
    got = {
        "view": model_admin.has_view_permission(request, obj),
        "add": model_admin.has_add_permission(request),
        "change": model_admin.has_change_permission(request, obj),
        "delete": model_admin.has_delete_permission(request, obj),
    }
    want = {op: who in rules.get(op, NOBODY) for op in got}
    assert got == want
    actions = set(model_admin.get_actions(request))
    assert actions == {a for a, roles in rules.get("actions", {}).items() if who in roles}


# --- end to end -------------------------------------------------------------------------


@pytest.mark.parametrize("who", [*ROLES, SUPERUSER])
def test_it_serves_every_admin_page_by_role(who: str, merchant: Any) -> None:
    """Changelist, change page and add page of every model, through HTTP: 200 for what the
    role may see or add, 403 (404 for a row it may not see) otherwise, never a 500."""
    builder = Builder(merchant, "pages")
    client = _client(_user(merchant, who))
    superuser = factories.UserFactory(is_superuser=True, is_staff=True)
    for label, (model, model_admin) in sorted(kyc_admins().items()):
        rules = ADMIN_RULES[label]
        obj = builder.get(model)
        if model._meta.proxy:  # a row the proxy's admin lists (e.g. requests in review)
            request = RequestFactory().get("/")
            request.user = superuser
            obj = builder.fresh(model, **exact_filters(model_admin.get_queryset(request)))
        may_view = who in rules["view"]
        assert client.get(_admin(model, "changelist")).status_code == (200 if may_view else 403)
        change = client.get(_admin(model, "change", obj.pk)).status_code
        # a role that may view no such row anywhere: 403 whatever the id (no existence hint)
        assert change == 200 if may_view else change in (403, 404), (label, change)
        add = client.get(_admin(model, "add")).status_code
        assert add == (200 if who in rules.get("add", NOBODY) else 403), (label, add)


def _admin(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _member(merchant: Merchant, role: str, **kw: Any) -> tuple[Client, Any]:
    user = factories.staff_user(merchant, reveal=True, role=role, **kw)
    return _client(user), user


def _action(client: Client, model: type[models.Model], action: str, *pks: Any) -> Any:
    # "post": the confirmation page's yes; "reason": erase asks why
    return client.post(
        _admin(model, "changelist"),
        {
            "action": action,
            "_selected_action": [str(pk) for pk in pks],
            "post": "yes",
            "reason": "customer asked",
        },
    )


@pytest.mark.parametrize("role", ROLES)
def test_it_never_lets_anyone_change_their_own_membership(role: str, merchant: Any) -> None:
    client, user = _member(merchant, role)
    own = Membership.objects.get(user=user, merchant=merchant)
    url = _admin(Membership, "change", own.pk)
    response = client.post(url, {"user": user.pk, "merchant": merchant.pk, "role": OWNER})
    assert response.status_code == 403
    assert client.post(_admin(Membership, "delete", own.pk), {"post": "yes"}).status_code == 403
    own.refresh_from_db()
    assert own.role == role


def test_it_lets_only_an_owner_make_an_owner(merchant: Any) -> None:
    second = factories.MerchantFactory()
    client, admin_user = _member(merchant, ADMIN)
    factories.MembershipFactory(user=admin_user, merchant=second, role=ADMIN)
    newcomer = factories.staff_user(merchant, role=VIEWER)  # a member of the first only
    add = _admin(Membership, "add")
    refused = client.post(add, {"user": newcomer.pk, "merchant": second.pk, "role": OWNER})
    assert refused.status_code == 200 and "Only an owner" in refused.content.decode()
    assert not Membership.objects.filter(user=newcomer, merchant=second).exists()
    # promoting an existing member to owner is refused the same way
    viewer = Membership.objects.get(user=newcomer, merchant=merchant)
    response = client.post(_admin(Membership, "change", viewer.pk), {"role": OWNER})
    assert response.status_code == 200 and "Only an owner" in response.content.decode()
    viewer.refresh_from_db()
    assert viewer.role == VIEWER
    # positive controls: an admin adds a compliance member; an owner makes an owner
    ok = client.post(add, {"user": newcomer.pk, "merchant": second.pk, "role": COMPLIANCE})
    assert ok.status_code == 302
    assert Membership.objects.get(user=newcomer, merchant=second).role == COMPLIANCE
    owner_client, _ = _member(merchant, OWNER)
    ok = owner_client.post(_admin(Membership, "change", viewer.pk), {"role": OWNER})
    assert ok.status_code == 302
    viewer.refresh_from_db()
    assert viewer.role == OWNER
    assert AuditEntry.objects.filter(action="membership.changed", object_id=str(viewer.pk)).exists()


@pytest.mark.parametrize("role", [OWNER, ADMIN])
def test_it_never_lets_staff_remove_or_demote_an_owner(role: str, merchant: Any) -> None:
    client, _ = _member(merchant, role)
    _, other_owner = _member(merchant, OWNER)
    theirs = Membership.objects.get(user=other_owner, merchant=merchant)
    assert client.post(_admin(Membership, "delete", theirs.pk), {"post": "yes"}).status_code == 403
    _action(client, Membership, "delete_selected", theirs.pk)
    response = client.post(_admin(Membership, "change", theirs.pk), {"role": VIEWER})
    assert response.status_code == 403
    theirs.refresh_from_db()
    assert theirs.role == OWNER
    # positive control: a viewer's membership can be removed
    _, viewer = _member(merchant, VIEWER)
    mine_to_remove = Membership.objects.get(user=viewer, merchant=merchant)
    assert (
        client.post(_admin(Membership, "delete", mine_to_remove.pk), {"post": "yes"}).status_code
        == 302
    )
    assert not Membership.objects.filter(pk=mine_to_remove.pk).exists()


@pytest.mark.parametrize("role", ROLES)
def test_it_never_lets_staff_add_or_delete_merchants(role: str, merchant: Any) -> None:
    client, _ = _member(merchant, role)
    count = Merchant.objects.count()
    assert client.get(_admin(Merchant, "add")).status_code == 403
    client.post(_admin(Merchant, "add"), {"name": "Mine", "slug": "mine", "retention_days": 30})
    assert client.post(_admin(Merchant, "delete", merchant.pk), {"post": "yes"}).status_code == 403
    _action(client, Merchant, "delete_selected", merchant.pk)
    assert Merchant.objects.count() == count and Merchant.objects.filter(pk=merchant.pk).exists()
    # owners and admins change the merchant's settings; the others cannot
    response = client.post(
        _admin(Merchant, "change", merchant.pk),
        {
            "name": merchant.name,
            "slug": merchant.slug,
            "retention_days": 30,
            # required since kyc 0004 (the customer page's branding, the review SLA)
            "brand_color": "#1f4fd1",
            "default_language": "en",
            "review_sla_hours": 24,
        },
    )
    merchant.refresh_from_db()
    assert (merchant.retention_days == 30) is (role in (OWNER, ADMIN)), response.status_code


@pytest.mark.parametrize("who", [OWNER, SUPERUSER])
def test_it_never_deletes_stored_deliveries_events_or_audit_entries(
    who: str, merchant: Any
) -> None:
    # Evidence is deleted by nobody but a superuser (audited: see
    # tests/admin_workspace/test_confirmations.py); requests by nobody at all.
    builder = Builder(merchant, "hist")
    rows = [builder.get(m) for m in (InboundEvent, TransferEvent, AuditEntry, TransferRequest)]
    client = _client(_user(merchant, who))
    for row in rows:
        model = type(row)
        if who == SUPERUSER and model is not TransferRequest:
            continue
        assert client.post(_admin(model, "delete", row.pk), {"post": "yes"}).status_code == 403
        _action(client, model, "delete_selected", row.pk)
        assert model.objects.filter(pk=row.pk).exists(), model


@pytest.mark.parametrize("role", ROLES)
def test_it_runs_admin_actions_only_for_roles_that_may(role: str, merchant: Any) -> None:
    builder = Builder(merchant, "act")
    record = builder.get(KYCRecord)
    field = builder.get(IdentityField)
    transfer = builder.get(TransferRequest)
    TransferRequest.objects.filter(pk=transfer.pk).update(status=Status.REVIEW)
    client, _ = _member(merchant, role)
    _action(client, KYCRecord, "erase_pii", record.pk)
    _action(client, TransferRequest, "approve", transfer.pk)
    record.refresh_from_db()
    field.refresh_from_db()
    transfer.refresh_from_db()
    may_review = role in (OWNER, COMPLIANCE)
    assert (record.erased_at is not None) is may_review
    assert (field.value is None) is may_review
    assert transfer.status == (Status.COMPLETED if may_review else Status.REVIEW)


def test_it_acts_only_where_the_role_allows_when_a_selection_spans_merchants(
    merchant: Any,
) -> None:
    elsewhere = factories.MerchantFactory()
    client, user = _member(merchant, COMPLIANCE)
    factories.MembershipFactory(user=user, merchant=elsewhere, role=VIEWER)
    here = Builder(merchant, "here").get(KYCRecord)
    there = Builder(elsewhere, "there").get(KYCRecord)
    _action(client, KYCRecord, "erase_pii", here.pk, there.pk)
    here.refresh_from_db()
    there.refresh_from_db()
    assert here.erased_at is not None and there.erased_at is None


@pytest.mark.parametrize("role", ROLES)
def test_it_reveals_pii_only_to_reviewers_with_the_permission(role: str, merchant: Any) -> None:
    field = Builder(merchant, "rev").get(IdentityField)
    client, _ = _member(merchant, role)  # every member here holds kyc.reveal_pii
    url = reverse("admin:kyc_identityfield_reveal", args=[field.pk])
    # A GET shows the reveal form only; the POST with a purpose reveals
    assert client.get(url).status_code == (200 if role in (OWNER, COMPLIANCE) else 403)
    response = client.post(url, {"fields": [field.pk], "purpose": "review"})
    revealed = AuditEntry.objects.filter(action__contains="reveal", merchant=merchant)
    if role in (OWNER, COMPLIANCE):
        assert response.status_code == 302 and revealed.count() == 1
    else:
        assert response.status_code == 403 and not revealed.exists()
        assert "rev-" not in response.content.decode()  # no planted value leaks


def test_it_still_needs_the_reveal_permission_for_a_compliance_role(merchant: Any) -> None:
    field = Builder(merchant, "rev").get(IdentityField)
    client = _client(factories.staff_user(merchant, reveal=False, role=COMPLIANCE))
    response = client.get(reverse("admin:kyc_identityfield_reveal", args=[field.pk]))
    assert response.status_code == 403


def test_it_gives_no_hint_through_view_on_site_that_another_merchants_object_exists(
    merchant: Any, settings: Any
) -> None:
    settings.DEBUG = True  # the debug 404 page says why: it must say the same either way
    theirs = Builder(factories.MerchantFactory(), "oth").get(KYCRecord)
    client, _ = _member(merchant, OWNER)
    ct = ContentType.objects.get_for_model(KYCRecord).pk
    missing = KYCRecord.objects.order_by("-pk").first().pk + 1000  # type: ignore[union-attr]
    a = client.get(f"/admin/r/{ct}/{theirs.pk}/")
    b = client.get(f"/admin/r/{ct}/{missing}/")
    assert a.status_code == b.status_code == 404

    def same(text: str) -> str:
        return re.sub(rf"\b({theirs.pk}|{missing})\b", "ID", text)

    assert same(a.content.decode()) == same(b.content.decode())


def test_it_ships_a_staff_group_without_deletes_of_history_merchants_or_reveal(
    merchant: Any,
) -> None:
    from kyc.management.commands.demo import staff_group

    group = staff_group()
    held = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }
    for never in (
        "kyc.delete_inboundevent",
        "kyc.delete_transferevent",
        "kyc.delete_auditentry",
        "kyc.delete_transferrequest",
        "kyc.delete_kycrecord",
        "kyc.add_merchant",
        "kyc.delete_merchant",
        "kyc.add_apikey",
        "kyc.reveal_pii",
    ):
        assert never not in held, never
    # enough for the roles to work: an owner and a viewer holding only the group
    owner = factories.UserFactory(is_staff=True)
    viewer = factories.UserFactory(is_staff=True)
    for user, role in ((owner, OWNER), (viewer, VIEWER)):
        user.groups.add(group)
        factories.MembershipFactory(user=user, merchant=merchant, role=role)
    record = Builder(merchant, "grp").get(KYCRecord)
    assert _client(viewer).get(_admin(KYCRecord, "changelist")).status_code == 200
    assert _client(viewer).get(_admin(Membership, "add")).status_code == 403
    owner_client = _client(owner)
    assert owner_client.get(_admin(Membership, "add")).status_code == 200
    _action(owner_client, KYCRecord, "erase_pii", record.pk)
    record.refresh_from_db()
    assert record.erased_at is not None
    assert not Permission.objects.filter(user=owner).exists()
