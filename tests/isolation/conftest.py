"""Promise figures (see tests/faults/promise_log.py) for this directory's tests."""

import pytest  # noqa: E402

from tests.faults.promise_log import (  # noqa: F401
    _write_promises,
    promise,
    pytest_runtest_makereport,
)
from tests.isolation.conftest_world import make_side  # noqa: E402


@pytest.fixture
def world(db):
    """Merchant A ("aaazq") and merchant B ("bbbzq"), each owning one object of every model."""
    return make_side("aaazq"), make_side("bbbzq")
