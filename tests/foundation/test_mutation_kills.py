"""Cases `make mutate` found no test for (each kills a surviving mutant)."""

from __future__ import annotations

from kyc.status import TERMINAL, Status, can_move


def test_it_refuses_moves_from_or_to_a_status_it_does_not_know() -> None:
    # a status the machine has no row for (an old value in the database, a typo)
    assert can_move("no-such-status", Status.COMPLETED) is False
    assert can_move("", Status.PENDING) is False
    for status in (Status.PENDING, *TERMINAL):
        assert can_move(status, "no-such-status") is False
    assert can_move(Status.PENDING, Status.ACCEPTED) is True  # control


def test_it_keeps_lookup_hashes_stable_and_case_blind(settings) -> None:
    """Stored lookup hashes must match tomorrow's: the keyed construction is pinned."""
    import hashlib
    import hmac

    from kyc.crypto import lookup_hash

    settings.SECRET_KEY = "pinned-secret"
    key = hashlib.sha256(b"kyc-lookup:pinned-secret").digest()
    expected = hmac.new(key, b"ab12cafe", hashlib.sha256).hexdigest()
    assert lookup_hash(" AB12CAFE ") == expected == lookup_hash("ab12cafe")


def test_it_names_the_problem_when_rotating_a_plain_value() -> None:
    import pytest

    from kyc.crypto import DecryptionError, rotate

    with pytest.raises(DecryptionError, match="not encrypted"):
        rotate("alice@example.com")


def test_it_says_why_a_key_is_refused(db, merchant) -> None:
    from rest_framework.test import APIClient

    from kyc import services

    _, raw = services.api_key_create(merchant=merchant, name="k")
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}x")
    assert c.get("/api/v1/transfers/").json()["detail"] == "Unknown or revoked API key."
    c.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    r = c.get("/api/v1/transfers/")
    assert r.status_code == 401
    assert r.json()["detail"] == "Use 'Authorization: Bearer <api key>'."


def test_it_tells_the_customer_in_plain_words_what_each_status_means() -> None:
    from kyc.status import PLAIN_WORDS, plain_words

    assert set(PLAIN_WORDS) == set(Status.values)  # no status without words
    assert plain_words(Status.CREATED) == "Preparing your request…"
    assert plain_words(Status.PENDING) == "Scan the code with your phone to continue."
    assert plain_words(Status.CANCELLED) == "This request was cancelled."
    assert plain_words("no-such-status") == "no-such-status"  # shown as is, never a crash
    words = [plain_words(s) for s in Status.values]
    assert len(set(words)) == len(words)  # every status says something different
