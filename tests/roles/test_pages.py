"""Every merchant page x every role: allowed roles succeed, the others get a 403 page and
nothing changes.

The URLconf is enumerated: a merchant page added without a rule here fails
test_it_has_a_rule_for_every_merchant_url, so no page can be forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from kyc import outbox, registry
from kyc.errors import PermanentError
from kyc.models import (
    ApiKey,
    AuditEntry,
    KYCRecord,
    ProviderAccount,
    TransferRequest,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from kyc.status import Status
from providers.sunbird.models import IssuanceRun, IssuanceStep
from tests import factories
from tests.corepass.conftest import USER
from tests.roles.conftest import ADMIN, COMPLIANCE, OWNER, ROLES, VIEWER, World, member_client
from tests.sunbird.test_pages import FORM as ISSUANCE_FORM

pytestmark = pytest.mark.django_db

EVERYONE = {OWNER, ADMIN, COMPLIANCE, VIEWER}
MANAGERS = {OWNER, ADMIN}  # provider settings, API keys, start verifications and runs
REVIEWERS = {OWNER, COMPLIANCE}  # review, reveal, erase

# Who may use each merchant page (URL name -> roles). Independent of kyc/permissions.py
# on purpose: this is the specification the code is checked against.
PAGE_ROLES: dict[str, set[str]] = {
    "dashboard": EVERYONE,
    "quickstart": EVERYONE,  # the API quick start
    "transfer_detail": EVERYONE,
    "transfer_list": EVERYONE,
    "transfer_live": EVERYONE,
    "transfer_cancel": MANAGERS,
    "transfer_again": MANAGERS,
    "customer_list": EVERYONE,
    "customer_detail": EVERYONE,
    "customer_reveal": REVIEWERS,
    "issuance_list": EVERYONE,
    "issuance_detail": EVERYONE,
    "issuance_progress": EVERYONE,
    "api_keys": MANAGERS,
    "api_key_revoke": MANAGERS,
    "provider_settings_index": MANAGERS,
    "provider_settings": MANAGERS,
    "transfer_new": MANAGERS,
    "issuance_new": MANAGERS,
    "issuance_retry": MANAGERS,
    "issuance_resubmit": MANAGERS,
    "incode_review": REVIEWERS,
    "webhooks": MANAGERS,
    "webhook_detail": MANAGERS,
    "webhook_test": MANAGERS,
    "webhook_rotate": MANAGERS,
    "webhook_toggle": MANAGERS,
    "webhook_delete": MANAGERS,
    "webhook_replay": MANAGERS,
    "branding": MANAGERS,  # what the customer page shows of the merchant
}

# Not merchant pages: the admin (tests/roles/test_admin.py), the API and the Incode
# token server (API keys and scopes), provider hooks, sandboxes, customer pages and their
# language switcher (i18n/).
NOT_MERCHANT_PREFIXES = ("admin/", "api/", "hooks/", "sandbox/", "t/", "static/", "i18n/")
# Pages of one's own account, open to any signed-in user (or anyone).
# healthz and metrics are the operator's (metrics: bearer token or allowed network, tested
# in tests/metrics/).
ACCOUNT_PAGES = {"login", "logout", "healthz", "metrics", "otp_setup", "otp_verify"}


def _patterns(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, str | None]]:
    for p in patterns:
        route = prefix + str(p.pattern).lstrip("^")
        if isinstance(p, URLResolver):
            yield from _patterns(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield route, p.name


def merchant_urls() -> dict[str, str]:
    """name -> route of every URL that is a merchant page."""
    found: dict[str, str] = {}
    for route, name in _patterns(get_resolver().url_patterns):
        if route.startswith(NOT_MERCHANT_PREFIXES) or name in ACCOUNT_PAGES:
            continue
        assert name, f"merchant URL {route!r} has no name, so it can have no rule"
        found[name] = route
    return found


def test_it_has_a_rule_for_every_merchant_url() -> None:
    urls = merchant_urls()
    assert set(urls) == set(PAGE_ROLES), (
        f"merchant URLs without a role rule here: {sorted(set(urls) - set(PAGE_ROLES))}; "
        f"rules for URLs that no longer exist: {sorted(set(PAGE_ROLES) - set(urls))}"
    )


# --- the cases ------------------------------------------------------------------------


@dataclass
class Case:
    """One request to one page; `effect` asserts what changed (allowed) or did not."""

    id: str
    url_name: str
    method: str
    path: Callable[[World], str]
    data: Callable[[World], dict[str, Any]] = lambda w: {}
    effect: Callable[[World, bool], None] = lambda w, allowed: None
    ok_status: tuple[int, ...] = (200,)


def _key_minted(w: World, allowed: bool) -> None:
    assert ApiKey.objects.filter(merchant=w.merchant, name="minted").exists() is allowed


def _key_revoked(w: World, allowed: bool) -> None:
    w.owner_key.refresh_from_db()
    assert (w.owner_key.revoked_at is not None) is allowed


def _settings_saved(w: World, allowed: bool) -> None:
    before = dict(w.corepass.settings)
    w.corepass.refresh_from_db()
    assert w.corepass.enabled is not allowed  # the submit switches the account off
    if not allowed:
        assert w.corepass.settings == before


def _transfer_started(w: World, allowed: bool) -> None:
    assert TransferRequest.objects.filter(merchant=w.merchant, reference="new-ref").exists() is (
        allowed
    )


def _run_started(w: World, allowed: bool) -> None:
    assert IssuanceRun.objects.filter(merchant=w.merchant, batch_id="batch-5").exists() is allowed


def _run_resumed(w: World, allowed: bool) -> None:
    w.run.refresh_from_db()
    assert (w.run.status == IssuanceRun.Status.RUNNING) is allowed
    if not allowed:
        assert w.run.status == IssuanceRun.Status.FAILED


def _issue_unknown(w: World) -> dict[str, Any]:
    """The run's issue call was sent and never answered: the case staff may re-submit."""
    IssuanceStep.objects.filter(run=w.run, name="issue").update(status=IssuanceStep.Status.UNKNOWN)
    return {}


def _issue_resubmitted(w: World, allowed: bool) -> None:
    w.run.refresh_from_db()
    assert w.run.issue_resubmit is allowed


def _reviewed(w: World, allowed: bool) -> None:
    w.in_review.refresh_from_db()
    assert w.in_review.status == (Status.REJECTED if allowed else Status.REVIEW)


def _endpoint(w: World) -> WebhookEndpoint:
    """The merchant's webhook endpoint, with one failed delivery (created on first use)."""
    endpoint = WebhookEndpoint.objects.filter(merchant=w.merchant).first()
    if endpoint is None:
        endpoint = factories.WebhookEndpointFactory(
            merchant=w.merchant, url="https://hooks.example.com/kyc"
        )
        message = outbox.webhook_message_create(merchant=w.merchant, type="ping", data={})
        WebhookDelivery.objects.create(message=message, endpoint=endpoint, state="failed")
    return endpoint


def _endpoint_created(w: World, allowed: bool) -> None:
    assert WebhookEndpoint.objects.filter(url="https://hooks.example.com/new").exists() is allowed


def _ping_queued(w: World, allowed: bool) -> None:
    assert WebhookMessage.objects.filter(event_type="ping", endpoint__isnull=False).exists() is (
        allowed
    )


def _secret_rotated(w: World, allowed: bool) -> None:
    assert bool(_endpoint(w).previous_secret) is allowed


def _endpoint_toggled(w: World, allowed: bool) -> None:
    assert _endpoint(w).enabled is not allowed


def _endpoint_deleted(w: World, allowed: bool) -> None:
    assert WebhookEndpoint.objects.filter(merchant=w.merchant).exists() is not allowed


def _delivery_replayed(w: World, allowed: bool) -> None:
    assert WebhookDelivery.objects.get().state == ("pending" if allowed else "failed")


def _customer(w: World) -> KYCRecord:
    """A customer with one received value (created on first use)."""
    record = KYCRecord.objects.filter(merchant=w.merchant, reference="cust-1").first()
    if record is None:
        record = factories.KYCRecordFactory(
            merchant=w.merchant, reference="cust-1", provider="corepass"
        )
        factories.IdentityFieldFactory(record=record, key="SH_EMAIL", value="c@example.com")
    return record


def _revealed(w: World, allowed: bool) -> None:
    assert AuditEntry.objects.filter(action="pii.revealed").exists() is allowed


def _cancelled(w: World, allowed: bool) -> None:
    w.transfer.refresh_from_db()
    assert (w.transfer.status == Status.CANCELLED) is allowed


def _with_coreid(w: World) -> dict[str, Any]:
    """The request names a customer and items, as a started CorePass request does."""
    TransferRequest.objects.filter(pk=w.transfer.pk).update(items=["SH_EMAIL"])
    w.transfer.refresh_from_db()
    w.transfer.subject = USER
    w.transfer.save()
    return {}


def _new_link(w: World, allowed: bool) -> None:
    count = TransferRequest.objects.filter(merchant=w.merchant, reference="cp-1").count()
    assert count == (2 if allowed else 1)


def _corepass_form(w: World) -> dict[str, Any]:
    # The stored settings again (same address), with the account switched off.
    s = w.corepass.settings
    return {
        "connector_url": s["connector_url"],
        "connector_public_key": s["connector_public_key"],
        "default_items": s.get("default_items") or "SH_EMAIL",
    }


def _branding_saved(w: World, allowed: bool) -> None:
    w.merchant.refresh_from_db()
    assert (w.merchant.brand_color == "#0b6e4f") is allowed


PathArg = Callable[[World], Any]


def _path(url_name: str, arg: PathArg | None) -> Callable[[World], str]:
    return lambda w: reverse(url_name, args=[arg(w)] if arg else [])


def page(url_name: str, arg: PathArg | None = None, *, id: str = "", **kw: Any) -> Case:
    """A GET of the page (its URL argument, if any, from `arg`)."""
    return Case(id or url_name, url_name, "get", _path(url_name, arg), **kw)


def action(
    url_name: str,
    arg: PathArg | None = None,
    *,
    effect: Callable[[World, bool], None],
    id: str = "",
    ok_status: tuple[int, ...] = (302,),
    **kw: Any,
) -> Case:
    """A POST to the page that changes something (`effect` checks it did, or did not)."""
    path = _path(url_name, arg)
    return Case(id or url_name, url_name, "post", path, effect=effect, ok_status=ok_status, **kw)


def _transfer(w: World) -> Any:
    return w.transfer.pk


def _run(w: World) -> Any:
    return w.run.pk


def _in_review(w: World) -> Any:
    return w.in_review.pk


def _owner_key(w: World) -> Any:
    return w.owner_key.pk


def _customer_pk(w: World) -> Any:
    return _customer(w).pk


def _endpoint_pk(w: World) -> Any:
    return _endpoint(w).pk


def _delivery_pk(w: World) -> Any:
    return WebhookDelivery.objects.get(endpoint=_endpoint(w)).pk


def _corepass(w: World) -> str:
    return "corepass"


CASES = [
    page("dashboard"),
    action(
        "branding",
        data=lambda w: {"brand_color": "#0b6e4f", "default_language": "en"},
        effect=_branding_saved,
    ),
    page("quickstart"),
    page("transfer_detail", _transfer),
    page("transfer_list"),
    page("transfer_live", _transfer),
    page("transfer_cancel", _transfer, id="transfer_cancel:confirm"),
    action("transfer_cancel", _transfer, effect=_cancelled),
    action("transfer_again", _transfer, data=_with_coreid, effect=_new_link),
    page("customer_list"),
    page("customer_detail", _customer_pk),
    action(
        "customer_reveal",
        _customer_pk,
        data=lambda w: {
            "fields": [str(f.pk) for f in _customer(w).fields.all()],
            "purpose": "review",
        },
        effect=_revealed,
    ),
    page("issuance_list"),
    page("issuance_detail", _run),
    # 286: the run is over, htmx stops polling
    page("issuance_progress", _run, ok_status=(200, 286)),
    page("api_keys"),
    page("api_key_revoke", _owner_key, id="api_key_revoke:confirm"),
    action(
        "api_keys",
        id="api_keys:mint",
        # no `pii`: only a member who may reveal PII grants it (tests/api_scopes)
        data=lambda w: {"name": "minted", "scopes": ["read", "write"]},
        effect=_key_minted,
        ok_status=(200,),
    ),
    action("api_key_revoke", _owner_key, id="api_key_revoke:owner's key", effect=_key_revoked),
    page("provider_settings_index"),
    page("provider_settings", _corepass),
    action(
        "provider_settings",
        _corepass,
        id="provider_settings:save",
        data=_corepass_form,
        effect=_settings_saved,
    ),
    page("transfer_new"),
    action(
        "transfer_new",
        id="transfer_new:start",
        data=lambda w: {
            "provider": "corepass",
            "reference": "new-ref",
            "subject_corepass": USER,
            "items_corepass": ["SH_EMAIL"],
        },
        effect=_transfer_started,
    ),
    page("issuance_new"),
    action(
        "issuance_new",
        id="issuance_new:start",
        data=lambda w: dict(ISSUANCE_FORM),
        effect=_run_started,
    ),
    action("issuance_retry", _run, effect=_run_resumed),
    action("issuance_resubmit", _run, data=_issue_unknown, effect=_issue_resubmitted),
    page("incode_review", _in_review),
    action(
        "incode_review",
        _in_review,
        id="incode_review:decide",
        data=lambda w: {"decision": "reject", "reason": "Document unreadable"},
        effect=_reviewed,
    ),
    page("webhooks"),
    action(
        "webhooks",
        id="webhooks:create",
        # the URL resolves nowhere here: accepted (sends would fail and say so)
        data=lambda w: {"url": "https://hooks.example.com/new", "events": ["*"]},
        effect=_endpoint_created,
        ok_status=(200,),
    ),
    page("webhook_detail", _endpoint_pk),
    action("webhook_test", _endpoint_pk, effect=_ping_queued),
    action("webhook_rotate", _endpoint_pk, effect=_secret_rotated, ok_status=(200,)),
    action("webhook_toggle", _endpoint_pk, effect=_endpoint_toggled),
    action("webhook_delete", _endpoint_pk, effect=_endpoint_deleted),
    action("webhook_replay", _delivery_pk, effect=_delivery_replayed),
]


def test_it_has_a_case_for_every_merchant_url() -> None:
    assert {c.url_name for c in CASES} == set(PAGE_ROLES)


@pytest.fixture
def no_outbound() -> Iterator[dict[str, mock.MagicMock]]:
    """Nothing leaves the test: a started transfer fails at once (after it is committed),
    issuance steps are not enqueued, org search answers nothing."""
    corepass = type(registry.get("corepass"))
    with (
        mock.patch.object(
            corepass, "start_transfer", side_effect=PermanentError("stubbed", code="stubbed")
        ) as start,
        mock.patch("providers.sunbird.tasks.enqueue_step") as enqueue,
        mock.patch("providers.sunbird.services.root_orgs_list", return_value=[]) as orgs,
    ):
        yield {"start": start, "enqueue": enqueue, "orgs": orgs}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_it_lets_only_allowed_roles_use_each_page(
    case: Case, role: str, world: World, no_outbound: dict[str, mock.MagicMock]
) -> None:
    client = member_client(world.merchant, role)
    allowed = role in PAGE_ROLES[case.url_name]
    response = getattr(client, case.method)(case.path(world), case.data(world))
    if allowed:
        assert response.status_code in case.ok_status, (
            response.status_code,
            response.content[:2000],
        )
    else:
        assert response.status_code == 403
        assert "Not allowed" in response.content.decode()
        if case.method == "post":
            assert not no_outbound["start"].called and not no_outbound["enqueue"].called
    case.effect(world, allowed)


@pytest.mark.parametrize("role", ROLES)
def test_it_tests_a_connection_only_for_roles_that_manage_settings(role: str, world: World) -> None:
    """A viewer pressing "Test connection" must not make the portal call anyone."""
    client = member_client(world.merchant, role)
    corepass = type(registry.get("corepass"))
    with mock.patch.object(corepass, "test_connection", return_value="fine") as test:
        response = client.post(
            reverse("provider_settings", args=["corepass"]), {**_corepass_form(world), "test": "1"}
        )
    if role in MANAGERS:
        assert response.status_code in (200, 302) and b"Not allowed" not in response.content
    else:
        assert response.status_code == 403 and not test.called
    world.corepass.refresh_from_db()
    assert world.corepass.enabled  # testing never saves


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_only_the_controls_the_role_can_use(role: str, world: World) -> None:
    client = member_client(world.merchant, role)
    page = client.get(reverse("issuance_detail", args=[world.run.pk])).content.decode()
    links = {
        "New verification": MANAGERS,
        "API keys": MANAGERS,
        "Providers": MANAGERS,
        'id="retry"': MANAGERS,  # retry button of the failed run
    }
    for marker, roles in links.items():
        assert (marker in page) is (role in roles), marker
    listing = client.get(reverse("issuance_list")).content.decode()
    assert ("Start an issuance run" in listing) is (role in MANAGERS)


def test_it_refuses_a_member_of_no_merchant(db: Any) -> None:
    client = Client()
    client.force_login(factories.UserFactory(is_staff=True))
    assert client.get(reverse("dashboard")).status_code == 404
    assert client.post(reverse("api_keys"), {"name": "x"}).status_code == 404
    assert not ApiKey.objects.filter(name="x").exists()


def test_it_checks_the_role_at_the_merchant_the_page_acts_for(world: World) -> None:
    """Owner elsewhere does not make a viewer here an owner here."""
    client = member_client(world.merchant, VIEWER)
    elsewhere = factories.MerchantFactory()
    factories.MembershipFactory(user=client.user, merchant=elsewhere, role=OWNER)  # type: ignore[attr-defined]
    assert elsewhere.pk > world.merchant.pk  # the pages act for the first merchant
    response = client.post(reverse("api_keys"), {"name": "minted", "scopes": ["read"]})
    assert response.status_code == 403
    assert not ApiKey.objects.filter(name="minted").exists()
    assert ProviderAccount.objects.filter(merchant=world.merchant, enabled=True).count() == 3
