"""The one "renew once, retry once" helper every token-caching provider uses."""

from __future__ import annotations

import pytest

from kyc.errors import AuthenticationError
from kyc.renewal import call_with_renewal


class Provider:
    """A fake provider that accepts only the credentials listed as good."""

    def __init__(self, good: set[str], status: int = 401) -> None:
        self.good, self.status, self.calls, self.renewals = good, status, [], []

    def call(self, credential: str) -> str:
        self.calls.append(credential)
        if credential not in self.good:
            raise AuthenticationError("refused", status=self.status)
        return f"ok with {credential}"

    def renew(self, stale: str) -> str:
        self.renewals.append(stale)
        return f"{stale}+1"


def test_it_calls_once_without_renewing_when_the_credential_works() -> None:
    p = Provider(good={"t"})
    assert call_with_renewal(p.call, current="t", renew=p.renew) == "ok with t"
    assert p.calls == ["t"] and p.renewals == []


def test_it_renews_once_and_retries_once_after_a_401() -> None:
    p = Provider(good={"t+1"})
    assert call_with_renewal(p.call, current="t", renew=p.renew) == "ok with t+1"
    assert p.calls == ["t", "t+1"] and p.renewals == ["t"]


def test_it_never_loops_when_the_renewed_credential_is_refused_too() -> None:
    p = Provider(good=set())
    with pytest.raises(AuthenticationError):
        call_with_renewal(p.call, current="t", renew=p.renew)
    assert p.calls == ["t", "t+1"] and p.renewals == ["t"]


def test_it_says_it_plainly_when_refused_twice() -> None:
    p = Provider(good=set())
    with pytest.raises(ValueError, match="twice") as raised:
        call_with_renewal(
            p.call, current="t", renew=p.renew, refused_twice=lambda exc: ValueError("twice")
        )
    assert isinstance(raised.value.__cause__, AuthenticationError)


def test_it_does_not_renew_on_a_403_unless_asked() -> None:
    p = Provider(good={"t+1"}, status=403)
    with pytest.raises(AuthenticationError):
        call_with_renewal(p.call, current="t", renew=p.renew)
    assert p.renewals == []
    assert call_with_renewal(p.call, current="t", renew=p.renew, refused=lambda e: True) == (
        "ok with t+1"
    )
