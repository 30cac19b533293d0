"""`check --deploy` is clean with production settings; CSP, HSTS and frame denial on every page."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from unittest import mock

import pytest
from cryptography.fernet import Fernet
from django.contrib import admin
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from kyc.models import Certificate, KYCRecord, TransferRequest
from tests.contract.deliveries import sandbox_account

ROOT = Path(__file__).resolve().parents[2]


def production_env() -> dict[str, str]:
    db = connection.settings_dict
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SECURE_", "SESSION_", "CSRF_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="false",
        SANDBOX="false",
        SECURE_SSL_REDIRECT="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL=f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        ALLOWED_HOSTS="portal.example.com",
        PUBLIC_URL="https://portal.example.com",
    )
    return env


@pytest.mark.django_db
def test_it_passes_check_deploy_with_production_settings(promise) -> None:
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout + run.stderr
    promise("deploy_headers", 1, "deploy check")


def walk(patterns: list, prefix: str = ""):
    for p in patterns:
        route = prefix + str(p.pattern).lstrip("^")
        if isinstance(p, URLResolver):
            if route.startswith(("admin/", "sandbox/", "static/")):
                continue  # the admin is walked through its registry below
            yield from walk(p.url_patterns, route)
        elif isinstance(p, URLPattern) and p.name:
            yield route, p


def fill(p: URLPattern, objs: dict) -> str | None:
    kwargs = {}
    for name in p.pattern.regex.groupindex:
        if "token" in name:
            kwargs[name] = objs["transfer"].page_token
        elif name == "pk" and "uuid" in str(p.pattern):
            kwargs[name] = str(objs["transfer"].pk)
        elif name == "pk":
            kwargs[name] = objs["record"].pk
        elif name == "provider":
            kwargs[name] = "corepass"
        else:
            group = re.search(rf"\(\?P<{name}>([\w|-]+)\)", p.pattern.regex.pattern)
            kwargs[name] = group.group(1).split("|")[0] if group else "x"
    try:
        return reverse(p.name, kwargs=kwargs)
    except Exception:
        return None


def assert_headers(r, url: str) -> None:
    csp = r.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, url
    assert r.headers.get("X-Frame-Options") == "DENY", url
    assert r.headers.get("X-Content-Type-Options") == "nosniff", url
    assert r.headers.get("Strict-Transport-Security", "").startswith("max-age=31536000"), url


@pytest.mark.django_db
def test_it_sends_security_headers_on_every_page(
    admin_client, admin_user, settings, promise
) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    from kyc.models import Membership, Merchant

    merchant = Merchant.objects.create(name="m", slug="m")
    Membership.objects.create(user=admin_user, merchant=merchant)
    account = sandbox_account(merchant, "corepass")
    record = KYCRecord.objects.create(merchant=merchant, reference="r")
    objs = {
        "record": record,
        "transfer": TransferRequest.objects.create(
            merchant=merchant, account=account, provider="corepass", reference="r", record=record
        ),
        "cert": Certificate.objects.create(
            merchant=merchant, provider="sunbird", slug="s", external_id="e"
        ),
    }
    urls = {fill(p, objs) for _, p in walk(get_resolver().url_patterns)} - {None}
    urls |= {"/admin/", "/login/", "/healthz", f"/nope-{uuid.uuid4()}/"}
    urls |= {
        reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist")
        for m in admin.site._registry
    }
    checked = 0
    for url in sorted(urls):
        for method in ("get", "post"):
            r = getattr(admin_client, method)(url, secure=True)
            assert r.status_code < 500, (method, url, r.status_code)
            assert_headers(r, f"{method} {url}")
            checked += 1
    # the anonymous world and the error pages too
    from django.test import Client

    anon = Client(raise_request_exception=False)
    for url in ("/", "/api/v1/transfers/", f"/t/{objs['transfer'].page_token}/"):
        assert_headers(anon.get(url, secure=True), url)
        checked += 1
    with mock.patch("kyc.views.ratelimit.hit_and_get_many", side_effect=RuntimeError("x")):
        r = anon.get(f"/t/{objs['transfer'].page_token}/status", secure=True)
    assert r.status_code == 500
    assert_headers(r, "500 page")
    promise("deploy_headers", checked + 1, "responses with CSP, HSTS and frame denial")
