"""PostgreSQL unavailable: /healthz names the database, deliveries get a 5xx (the provider
retries), nothing is half-written; once it is back the retried delivery lands once."""

from __future__ import annotations

import pytest
import requests
from django.db import connection

from kyc.models import InboundEvent, Merchant, ProviderAccount
from tests.abuse.hooks import hooks, url_for
from tests.conftest import _worker_env
from tests.faults.server import Server
from tests.faults.tcpproxy import CuttableProxy

HOOK = next((h for h in hooks() if h.name.endswith("webhook")), None)


@pytest.fixture
def proxied_server(transactional_db):
    db = connection.settings_dict
    proxy = CuttableProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    env = _worker_env(
        {
            "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@127.0.0.1:{proxy.port}/{db['NAME']}",
            "CONN_MAX_AGE": "60",
        }
    )
    try:
        server = Server(env)
    except Exception:
        proxy.close()
        raise
    yield proxy, server
    server.stop()
    proxy.close()


@pytest.mark.worker
@pytest.mark.skipif(HOOK is None, reason="no provider webhook is mounted yet")
def test_it_answers_5xx_and_writes_nothing_while_postgres_is_down(proxied_server, promise) -> None:
    proxy, server = proxied_server
    merchant = Merchant.objects.create(name="pg", slug="pg")
    account = ProviderAccount.objects.create(
        merchant=merchant, provider=HOOK.provider, enabled=True
    )
    url = server.url + url_for(HOOK, account.webhook_token)
    body = b'{"event": "probe"}'

    ok = requests.get(server.url + "/healthz", timeout=10)
    assert ok.status_code == 200 and ok.json()["db"] == "ok"

    proxy.cut()
    refused = 0
    for _ in range(3):
        health = requests.get(server.url + "/healthz", timeout=10)
        assert health.status_code == 503
        assert health.json()["db"].startswith("error") and health.json()["broker"] == "ok"
        r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        assert 500 <= r.status_code < 600, r.status_code
        assert r.status_code == 503 and r.headers.get("Retry-After"), r.text
        refused += 1
    assert InboundEvent.objects.filter(path__endswith=account.webhook_token + "/").count() == 0

    proxy.restore()
    r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code < 500, r.text
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    kept = InboundEvent.objects.filter(account=account)
    assert kept.count() == 1, list(kept.values("state", "error"))
    promise("postgres_down", refused, "deliveries answered 503 while down")
