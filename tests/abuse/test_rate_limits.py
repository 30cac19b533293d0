"""Public endpoints are rate limited through the shared Redis cache: customer pages per
address, every provider-facing endpoint per token (kyc.webhooks.limit_per_token)."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings as django_settings
from django.http import HttpResponse
from django.test import RequestFactory

from kyc.models import TransferRequest
from kyc.webhooks import limit_per_token
from tests.abuse.hooks import hooks, url_for
from tests.contract.deliveries import sandbox_account

pytestmark = pytest.mark.django_db


def redis_keys(pattern: str) -> list[bytes]:
    return redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"]).keys(pattern)


def test_it_limits_customer_pages_per_address(client, merchant, settings, promise) -> None:
    assert django_settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 5
    account = sandbox_account(merchant, "corepass")
    t = TransferRequest.objects.create(
        merchant=merchant, account=account, provider="corepass", reference="r"
    )
    codes = [client.get(f"/t/{t.page_token}/").status_code for _ in range(3)]
    codes += [client.get(f"/t/{t.page_token}/status").status_code for _ in range(4)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    assert client.get("/t/unknown-token/").status_code == 429  # guessing tokens counts too
    assert redis_keys("*rl:page:127.0.0.1*"), "the counter is not in the shared Redis cache"
    other = client.get(f"/t/{t.page_token}/", REMOTE_ADDR="10.9.8.7")
    assert other.status_code == 200
    promise("rate_limits", codes.count(429) + 1, "requests refused (pages)")


def test_it_limits_a_decorated_view_per_token(settings) -> None:
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3

    @limit_per_token
    def view(request, token):
        return HttpResponse("ok")

    rf = RequestFactory()
    codes = [view(rf.post("/"), token="tok-a").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    refused = view(rf.post("/"), token="tok-a")
    assert refused["Retry-After"] == "60" and b"Too many" in refused.content
    assert view(rf.post("/"), token="tok-b").status_code == 200  # other merchants unaffected
    assert limit_per_token(view) is view  # never limited twice


HOOKS = hooks()


@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_it_limits_every_provider_endpoint_per_token(hook, client, settings, promise) -> None:
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3
    url = url_for(hook, "zz-unknown-token-1")
    codes = [client.post(url, b"{}", content_type="application/json").status_code for _ in range(5)]
    assert codes[3:] == [429, 429], (hook.route, codes)
    assert all(c < 500 for c in codes), codes
    other = url_for(hook, "zz-unknown-token-2")
    if "token" in hook.kwargs:
        assert client.post(other, b"{}", content_type="application/json").status_code != 429
    promise("rate_limits", 2, "requests refused (provider endpoints)")
