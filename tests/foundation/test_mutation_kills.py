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
