"""The outbound policy of kyc/http.py: where a provider call may go, and how."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from kyc import http
from kyc.errors import OutboundRefused, PermanentError, RetryableError

REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def connections() -> Iterator[list[tuple[str, int]]]:
    """Every TCP connection urllib3 opens, refused (nothing leaves the machine)."""
    opened: list[tuple[str, int]] = []

    def fake(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        opened.append((address[0], int(address[1])))
        raise ConnectionRefusedError("test: no network")

    with mock.patch("urllib3.util.connection.create_connection", side_effect=fake):
        yield opened


def dns(answers: dict[str, list[list[str]]]) -> tuple[Any, list[str]]:
    """A getaddrinfo that answers the listed names in turn (last answer repeats)."""
    asked: list[str] = []

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        asked.append(name)
        turn = answers[name][min(len(asked) - 1, len(answers[name]) - 1)]
        out = []
        for ip in turn:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            addr = (ip, int(port or 0), 0, 0) if ":" in ip else (ip, int(port or 0))
            out.append((family, socket.SOCK_STREAM, 6, "", addr))
        return out

    return fake, asked


BLOCKED = [
    "127.0.0.1",
    "127.9.9.9",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "[::1]",
    "[::]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "[fe80::1]",
    "[ff02::1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped loopback
    "[::ffff:169.254.169.254]",
    "[::ffff:10.0.0.1]",
    "[64:ff9b::a9fe:a9fe]",  # NAT64 form of 169.254.169.254
    "[2002:7f00:1::]",  # 6to4 form of 127.0.0.1
    "[2002:a00:1::]",  # 6to4 form of 10.0.0.1
    "[2001:db8::1]",
    "[::127.0.0.1]",  # IPv4-compatible (deprecated)
    "2130706433",  # 127.0.0.1 as a number
    "0x7f000001",
    "127.1",
    "0177.0.0.1",
]


@pytest.mark.parametrize("host", BLOCKED)
def test_it_refuses_every_non_public_range(host: str, connections: list[Any]) -> None:
    # corepass allows any host name (merchants run their own connector): only the
    # address checks stand between a URL and the inside of the network.
    with pytest.raises(OutboundRefused) as exc:
        http.call("POST", f"http://{host}:8080/api/v1/kyc/status", provider="corepass", json={})
    assert connections == []
    assert exc.value.code == "outbound_refused" and not exc.value.retryable


@pytest.mark.parametrize(
    "answer",
    [["10.0.0.5"], ["169.254.169.254"], ["::1"], ["93.184.216.34", "127.0.0.1"]],
)
def test_it_refuses_a_name_that_resolves_to_an_internal_address(
    answer: list[str], connections: list[Any]
) -> None:
    fake, asked = dns({"connector.example": [answer]})
    with mock.patch("socket.getaddrinfo", side_effect=fake):
        with pytest.raises(OutboundRefused):
            http.call("POST", "https://connector.example/x", provider="corepass", json={})
    assert asked == ["connector.example"] and connections == []


def test_it_connects_to_the_checked_address_and_keeps_the_name_for_tls(
    connections: list[Any],
) -> None:
    fake, asked = dns({"api.provider.example": [["93.184.216.34"]]})
    sess = http.session(retries=0)
    with mock.patch("socket.getaddrinfo", side_effect=fake):
        with pytest.raises(RetryableError):
            http.call("GET", "https://api.provider.example/x", provider="sunbird", sess=sess)
    assert connections == [("93.184.216.34", 443)] and asked == ["api.provider.example"]
    pools = sess.adapters["https://"].poolmanager.pools  # type: ignore[attr-defined]
    keys = list(pools.keys())
    assert [(k.key_host, k.key_server_hostname, k.key_assert_hostname) for k in keys] == [
        ("93.184.216.34", "api.provider.example", "api.provider.example")
    ]


def test_it_is_not_fooled_by_dns_rebinding(captures: Any, allow_networks: Any) -> None:
    """The name answers an allowed address when checked, then 127.0.0.1: the request goes
    to the checked address only, with one lookup, and a later internal answer is refused."""
    outside = captures("127.0.0.2")  # stands for a public address: opted in below
    inside = captures("127.0.0.1", port=outside.port)  # the internal service
    allow_networks("127.0.0.2/32")
    fake, asked = dns({"rebind.example": [["127.0.0.2"], ["127.0.0.1"]]})
    url = f"http://rebind.example:{outside.port}/api/v1/kyc/status"
    with mock.patch("socket.getaddrinfo", side_effect=fake):
        http.call("POST", url, provider="corepass", json={"n": 1}, sess=http.session())
        assert asked == ["rebind.example"]  # one lookup for the check and the connection
        assert len(outside.seen) == 1 and inside.seen == []
        assert outside.seen[0].headers["Host"] == f"rebind.example:{outside.port}"
        with pytest.raises(OutboundRefused):
            http.call("POST", url, provider="corepass", json={"n": 2}, sess=http.session())
    assert inside.seen == [] and len(outside.seen) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_it_never_follows_a_redirect(method: str, captures: Any, allow_networks: Any) -> None:
    internal = captures("127.0.0.2")
    redirector = captures(
        "127.0.0.1",
        answer=lambda *_: (302, {"Location": f"{internal.url}/latest/meta-data/"}, b""),
    )
    allow_networks("127.0.0.1/32")  # the first hop only
    with pytest.raises(PermanentError) as exc:
        http.call(method, f"{redirector.url}/api/v1/kyc/status", provider="corepass", json={})
    assert exc.value.code == "provider_redirect" and exc.value.status == 302
    assert len(redirector.seen) == 1 and internal.seen == []


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@demo-api.incodesmile.com/omni/start",
        "https://key@demo-api.incodesmile.com/omni/start",
        # a path setting glued to a base URL must not turn into credentials + another host
        "https://demo-api.incodesmile.com@evil.example/omni/start",
        "ftp://demo-api.incodesmile.com/omni/start",
        "file:///etc/passwd",
        "gopher://demo-api.incodesmile.com/",
        "//demo-api.incodesmile.com/omni/start",
        "http://",
        "http://[::1",
        "http://demo-api.incodesmile.com:99999/",
        "not a url",
        "",
    ],
)
def test_it_refuses_credentials_in_a_url_and_invalid_urls_clearly(
    url: str, connections: list[Any]
) -> None:
    with pytest.raises(OutboundRefused) as exc:
        http.call("POST", url, provider="incode", json={})
    assert exc.value.message.startswith("The provider URL was refused")
    assert "pw" not in exc.value.message  # the credentials are not repeated
    assert connections == []


def test_it_keeps_each_provider_on_its_allow_list(settings: Any, connections: list[Any]) -> None:
    for url in (
        "https://evil.example/omni/start",
        "https://incodesmile.com.evil.example/omni/start",
        "https://evilincodesmile.com/omni/start",
    ):
        with pytest.raises(OutboundRefused) as exc:
            http.call("POST", url, provider="incode", json={})
        assert "allow-list" in exc.value.message
    assert http.check_url("https://demo-api.incodesmile.com/x", provider="incode").host == (
        "demo-api.incodesmile.com"
    )
    with pytest.raises(OutboundRefused):
        http.check_url("https://kyc.blockpass.org/x", provider="incode")
    settings.PROVIDER_ALLOWED_HOSTS = "incode=api.example.net;portmone=*.pm.example"
    assert http.check_url("https://api.example.net/x", provider="incode").host == "api.example.net"
    with pytest.raises(OutboundRefused):  # the operator's list replaces the default
        http.check_url("https://demo-api.incodesmile.com/x", provider="incode")
    assert http.check_url("https://a.pm.example/x", provider="portmone").port == 443
    assert connections == []


def test_it_allows_only_the_portals_own_sandbox_on_loopback(
    settings: Any, connections: list[Any]
) -> None:
    settings.SANDBOX = True
    settings.PUBLIC_URL = "http://127.0.0.1:8000"
    assert http.check_url("http://127.0.0.1:8000/sandbox/incode/omni/start", provider="incode")
    for url in (
        "http://127.0.0.1:8000/sandbox/portmone/x",  # another provider's sandbox
        "http://127.0.0.1:8000/admin/",
        "http://127.0.0.1:8000/sandbox/incode/../../admin/",
        "http://127.0.0.1:8000/sandbox/incode/%2e%2e/%2e%2e/admin/",
        "http://127.0.0.1:8001/sandbox/incode/x",
        "http://127.0.0.1:6379/sandbox/incode/x",
    ):
        with pytest.raises(OutboundRefused):
            http.check_url(url, provider="incode")
    settings.SANDBOX = False
    with pytest.raises(OutboundRefused):
        http.check_url("http://127.0.0.1:8000/sandbox/incode/omni/start", provider="incode")


def test_it_refuses_a_session_used_outside_the_policy(connections: list[Any]) -> None:
    with pytest.raises(OutboundRefused):
        http.session().get("http://93.184.216.34/")
    assert connections == []


def test_it_shows_merchants_a_generic_message_and_logs_the_body(
    captures: Any, allow_networks: Any, caplog: Any
) -> None:
    leak = b'{"error": "SECRET-BODY-7f3a at http://10.0.0.9/internal"}'
    provider = captures(answer=lambda *_: (404, {"Content-Type": "application/json"}, leak))
    allow_networks("127.0.0.1/32")
    with caplog.at_level("WARNING", logger="kyc.http"):
        with pytest.raises(PermanentError) as exc:
            http.call("POST", f"{provider.url}/api/v1/kyc/status", provider="corepass", json={})
    assert exc.value.message == "The provider answered 404."
    assert "SECRET-BODY" not in str(exc.value) and "SECRET-BODY" in exc.value.detail
    assert "SECRET-BODY" in caplog.text  # the operator still has the detail
