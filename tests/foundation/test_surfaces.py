"""Healthz, demo, login page, customer page framework, merchant pages."""

import pytest
from django.core.management import call_command

from kyc.models import ApiKey, Membership, Merchant, ProviderAccount, TransferRequest
from kyc.registry import names as provider_names


@pytest.mark.django_db
def test_it_reports_health_of_db_and_broker(client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"db": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_it_names_the_broken_part_in_healthz(client, settings) -> None:
    from portal.celery import app

    old = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        r = client.get("/healthz")
    finally:
        app.conf.broker_url = old
    assert r.status_code == 503
    assert r.json()["db"] == "ok"
    assert r.json()["broker"].startswith("error")


@pytest.mark.django_db
def test_it_creates_the_demo_once(capsys) -> None:
    call_command("demo")
    first = capsys.readouterr().out
    call_command("demo")
    second = capsys.readouterr().out
    assert Merchant.objects.count() == 1
    assert Membership.objects.count() == 1
    assert ApiKey.objects.count() == 1
    assert ProviderAccount.objects.filter(enabled=True).count() == len(provider_names())
    key_line = [line for line in first.splitlines() if line.startswith("API key:")][0]
    assert key_line in second


@pytest.mark.django_db
def test_it_serves_the_login_page(client) -> None:
    r = client.get("/login/")
    assert r.status_code == 200
    assert b"Log in" in r.content
    home = client.get("/")
    assert home.status_code == 302 and home["Location"].startswith("/login/")


@pytest.mark.django_db
def test_it_shows_an_api_key_once(staff_client) -> None:
    r = staff_client.post("/keys/", {"name": "backend", "scopes": ["read", "write"]})
    body = r.content.decode()
    assert "kp_" in body and "shown only this once" in body
    again = staff_client.get("/keys/").content.decode()
    key = ApiKey.objects.get(name="backend")
    assert f"kp_{key.prefix}_…" in again
    assert body.split('id="new-key-value">')[1].split("<")[0] not in again


@pytest.mark.django_db
def test_it_keeps_secrets_write_only_on_settings_pages(staff_client, merchant) -> None:
    ProviderAccount.objects.create(
        merchant=merchant,
        provider="blockpass",
        settings={"client_secret": "verysecretvalue9876", "api_url": "http://x"},
    )
    page = staff_client.get("/providers/blockpass/").content.decode()
    assert "verysecretvalue9876" not in page
    assert "…9876" in page
    assert "/hooks/blockpass/" in page


@pytest.mark.django_db
def test_it_polls_until_terminal_then_answers_286(
    client, merchant, django_capture_on_commit_callbacks
) -> None:
    account = ProviderAccount.objects.create(merchant=merchant, provider="corepass", enabled=True)
    t = TransferRequest.objects.create(
        merchant=merchant,
        account=account,
        provider="corepass",
        reference="x",
        status="pending",
        qr_svg="<svg id='q'></svg>",
    )
    page = client.get(f"/t/{t.page_token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg id='q'>" in html and 'hx-trigger="every 2s"' in html
    assert "/static/js/htmx.min.js" in html and "unpkg" not in html
    assert client.get(f"/t/{t.page_token}/status").status_code == 200
    from kyc import services

    with django_capture_on_commit_callbacks(execute=True):
        services.transfer_fail(
            transfer_id=t.pk, code="x", detail="The connector said no.", source="test"
        )
    r = client.get(f"/t/{t.page_token}/status")
    assert r.status_code == 286
    # The customer reads a human reason from a closed set, never the stored detail text.
    assert b"The request could not be completed." in r.content
    assert b"The connector said no." not in r.content


@pytest.mark.django_db
def test_it_404s_unknown_customer_pages(client, merchant) -> None:
    account = ProviderAccount.objects.create(merchant=merchant, provider="corepass", enabled=True)
    t = TransferRequest.objects.create(
        merchant=merchant, account=account, provider="corepass", reference="x", status="pending"
    )
    # control: the request's own token opens its page and its status fragment
    page = client.get(f"/t/{t.page_token}/")
    assert page.status_code == 200 and f"/t/{t.page_token}/status" in page.content.decode()
    assert client.get(f"/t/{t.page_token}/status").status_code == 200
    # One character changed (never to itself: a token ending in "x" stays its own URL).
    other = t.page_token[:-1] + ("y" if t.page_token.endswith("x") else "x")
    for url in ("/t/nope/", "/t/nope/status", f"/t/{other}/"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert t.page_token not in r.content.decode() and merchant.name not in r.content.decode()


def test_it_fails_deploy_check_with_sandbox_on(settings) -> None:
    from kyc.checks import sandbox_off_in_production

    settings.SANDBOX, settings.DEBUG = True, False
    assert [e.id for e in sandbox_off_in_production(None)] == ["kyc.E001"]
    settings.SANDBOX = False
    assert sandbox_off_in_production(None) == []


@pytest.mark.django_db
def test_it_serves_the_openapi_schema(client) -> None:
    r = client.get("/api/schema/")
    assert r.status_code == 200
    assert b"/api/v1/transfers/" in r.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.content.decode() and "<script>" not in docs.content.decode()
    # the init script is a separate same-origin file (CSP script-src 'self'): it loads the schema
    init = client.get("/api/docs/?script=")
    assert init["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in init.content.decode()


@pytest.mark.django_db
def test_it_fills_in_the_sandbox_consoles_so_the_demo_runs_end_to_end(settings) -> None:
    from providers.blockpass import sandbox as bp_sandbox

    call_command("demo")
    bp = ProviderAccount.objects.get(provider="blockpass")
    svc = bp_sandbox.service_get(bp.settings["client_id"])
    assert svc["merchant_url"] == f"{settings.PUBLIC_URL}/hooks/blockpass/{bp.webhook_token}/"
    inc = ProviderAccount.objects.get(provider="incode")
    from providers.incode import sandbox as incode_sandbox

    hook = incode_sandbox.webhook_configured(api_key=inc.settings["api_key"])
    assert hook == f"{settings.PUBLIC_URL}/hooks/incode/{inc.webhook_token}/"


@pytest.mark.django_db
def test_it_rate_limits_password_guessing(client, settings) -> None:
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 3
    codes = [
        client.post("/login/", {"username": "x", "password": "wrong"}).status_code for _ in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    assert client.get("/login/").status_code == 200  # reading the page is not limited
