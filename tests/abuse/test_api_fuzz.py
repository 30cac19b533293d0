"""The REST API fuzzed from its own OpenAPI schema, in-process, with two merchants' keys:
no 500s, no status codes, content types or bodies the schema does not declare, and no
answer without a key."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import resolve
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

from kyc import services
from kyc.models import (
    Certificate,
    IdentityField,
    KYCRecord,
    Merchant,
    ProviderAccount,
    TransferRequest,
)

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
_calls = {"n": 0}
_operations: set[str] = set()  # operations whose generated cases all passed the checks
# Each generated case is sent three times (two keys, no key): at least ten cases an
# operation (about fifty today), or hypothesis generated (almost) nothing for it.
MIN_CALLS_PER_OPERATION = 30


@pytest.fixture
def keys(db) -> list[str]:
    # The real WSGI handler closes the DB connection after each request; the test client
    # does not. Keep the test's transaction open across the in-process calls.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    out = []
    # fuzz-a's key reads decrypted values (`pii`), fuzz-b's has the default scopes (the
    # values come back masked): both response shapes are held to the schema.
    for tag, scopes in (("fuzz-a", ["read", "write", "pii"]), ("fuzz-b", None)):
        merchant = Merchant.objects.create(name=tag, slug=tag)
        account = ProviderAccount.objects.create(merchant=merchant, provider="corepass")
        record = KYCRecord.objects.create(merchant=merchant, reference=f"{tag}-r")
        transfer = TransferRequest.objects.create(
            merchant=merchant, account=account, provider="corepass", reference="r", record=record
        )
        IdentityField.objects.create(
            record=record,
            provider="corepass",
            key="SH_EMAIL",
            value=f"{tag}@example.com",
            transfer=transfer,
        )
        Certificate.objects.create(
            merchant=merchant, record=record, provider="sunbird", slug="s", external_id=tag
        )
        out.append(services.api_key_create(merchant=merchant, name=tag, scopes=scopes)[1])
    yield out
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# Both fuzz runs: no deadline, no example database, explicit examples then generated
# ones, every health check off; they differ in how many examples and whether derandomized.
FUZZ = settings(
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@settings(FUZZ, max_examples=12, derandomize=True)
def test_it_keeps_its_schema_under_fuzzing(case, keys) -> None:
    for key in keys:
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
        _calls["n"] += 1
    # without a key: refused, and refused the documented way
    response = case.call_and_validate(headers={"Authorization": ""}, checks=CHECKS)
    path = unquote(urlsplit(response.request.url).path)
    if response.status_code == 404:  # only a path no route matches may skip the key check
        assert resolve(path).url_name == "api-not-found", path
    else:
        assert response.status_code == 401, path
    _calls["n"] += 1
    _operations.add(case.operation.label)


@pytest.mark.soak
@schema.parametrize()
@settings(FUZZ, max_examples=300)
def test_it_keeps_its_schema_under_long_fuzzing(case, keys) -> None:
    for key in keys:
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
        _calls["n"] += 1


def test_it_records_the_fuzzing_figure(promise, module_outcomes) -> None:
    """Last in this file (file order): the fuzz test ran for every operation, no case
    failed, and it made at least MIN_CALLS_PER_OPERATION calls per operation."""
    operations = len(list(schema.get_all_operations()))
    assert operations >= 6, operations  # transfers, records, certificates: list + detail
    # (schemathesis gives every operation's item the same test id: outcomes are per id,
    # "failed" if any of them failed)
    failed = [t for t, outcome in module_outcomes.items() if outcome in ("failed", "not run")]
    assert not failed, f"fuzz cases failed or did not run: {failed}"
    assert len(_operations) == operations, "run the whole file: the figure needs the fuzz test"
    assert _calls["n"] >= MIN_CALLS_PER_OPERATION * operations, _calls["n"]
    promise("api_fuzz", _calls["n"], "generated requests")
    promise("api_fuzz", operations, "operations")
