"""Promise figures (see tests/faults/promise_log.py) for this directory's tests."""

from tests.faults.promise_log import (  # noqa: F401
    _write_promises,
    promise,
    pytest_runtest_makereport,
)
