"""The sandbox plays Portmone's partner API as the client module describes it."""

from unittest import mock

from providers.portmone import sandbox
from providers.portmone.client import DEFAULT_PATHS

AUTH = "/sandbox/portmone" + DEFAULT_PATHS["auth_path"]
CREATE = "/sandbox/portmone" + DEFAULT_PATHS["create_path"]


def _token(client) -> str:
    r = client.post(
        AUTH, {"login": "demo-partner", "password": "demo-partner-password"}, "application/json"
    )
    assert r.status_code == 200
    assert r.json()["expires_in"] == sandbox.config()["token_ttl"]
    return r.json()["access_token"]


def _create(client, token: str, facts=("age_over_18",)):
    return client.post(
        CREATE, {"facts": list(facts)}, "application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def test_it_refuses_wrong_partner_credentials(client) -> None:
    r = client.post(AUTH, {"login": "demo-partner", "password": "x"}, "application/json")
    assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"


def test_it_answers_401_to_a_token_past_its_lifetime(client) -> None:
    sandbox.configure(token_ttl=5)
    token = _token(client)
    created = _create(client, token)
    assert created.status_code == 201 and created.json()["id"]  # control: a live token works
    with mock.patch.object(sandbox, "_now", return_value=sandbox._now() + 6):
        expired = _create(client, token)
    made_up = _create(client, "made-up")
    for r in (expired, made_up):
        assert r.status_code == 401 and "id" not in r.json()
        assert r.json()["error"]  # says why, in the partner API's own error shape


def test_it_serves_facts_only_after_approval_and_only_to_the_owner(client) -> None:
    token = _token(client)
    share = _create(client, token, ["full_name", "citizenship"]).json()
    facts_url = "/sandbox/portmone" + DEFAULT_PATHS["facts_path"].replace("{id}", share["id"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get(facts_url, **auth).status_code == 409
    phone = client.get(f"/sandbox/portmone/phone/{share['id']}/").content.decode()
    assert "full_name" in phone and 'value="approve"' in phone
    client.post(f"/sandbox/portmone/phone/{share['id']}/", {"action": "approve"})
    assert client.get(facts_url, **auth).json()["facts"] == {
        "full_name": "Olena Kovalenko",
        "citizenship": "UA",
    }
    sandbox.configure(login="other-partner")
    r = client.post(
        AUTH, {"login": "other-partner", "password": "demo-partner-password"}, "application/json"
    )
    other = {"HTTP_AUTHORIZATION": f"Bearer {r.json()['access_token']}"}
    assert client.get(facts_url, **other).status_code == 404


def test_it_expires_a_request_nobody_answered(client) -> None:
    sandbox.configure(request_ttl=10)
    token = _token(client)
    share = _create(client, token).json()
    status_url = "/sandbox/portmone" + DEFAULT_PATHS["status_path"].replace("{id}", share["id"])
    with mock.patch.object(sandbox, "_now", return_value=sandbox._now() + 11):
        r = client.get(status_url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.json()["status"] == "expired"


def test_it_lets_a_person_expire_every_token_from_the_console(client) -> None:
    token = _token(client)
    page = client.get("/sandbox/portmone/").content.decode()
    assert "Tokens issued: 1" in page and "Expire all tokens now" in page
    client.post("/sandbox/portmone/", {"action": "expire_tokens"})
    assert _create(client, token).status_code == 401
    assert _create(client, _token(client)).status_code == 201
