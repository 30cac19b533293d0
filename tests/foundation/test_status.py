"""The status machine, over every pair of states."""

import itertools

import pytest

from kyc.status import TERMINAL, Status, can_move

ORDER = [Status.CREATED, Status.PENDING, Status.ACCEPTED, Status.PROCESSING, Status.REVIEW]
PAIRS = list(itertools.product(Status.values, Status.values))


def expected(current: str, new: str) -> bool:
    if current in TERMINAL or current == new:
        return False
    if current == Status.REVIEW:
        return new in {
            Status.COMPLETED,
            Status.REJECTED,
            Status.FAILED,
            Status.EXPIRED,
            Status.CANCELLED,
        }
    if new in TERMINAL:
        return True
    return ORDER.index(new) > ORDER.index(current)


@pytest.mark.parametrize(("current", "new"), PAIRS)
def test_it_allows_only_forward_moves(current: str, new: str) -> None:
    assert can_move(current, new) is expected(current, new)


def test_it_has_no_way_out_of_a_terminal_status() -> None:
    for status in TERMINAL:
        assert not any(can_move(status, other) for other in Status.values)


def test_it_never_moves_backwards() -> None:
    for i, later in enumerate(ORDER):
        for earlier in ORDER[:i]:
            assert not can_move(later, earlier)
