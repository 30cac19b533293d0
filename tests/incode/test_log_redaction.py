"""urllib3's retry warnings carry the URL's query string (Incode's `?id=<interviewId>`)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import urllib3
from urllib3.util.retry import Retry

INTERVIEW_ID = "iv-planted-5f1e2d3c4b5a"


def test_it_redacts_the_interview_id_in_urllib3_retry_warnings(caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3")
    pool = urllib3.PoolManager(retries=Retry(total=1, connect=1, backoff_factor=0))
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        # Nothing listens on port 9: refused, retried once, and urllib3 warns with the URL
        # (what kyc.http's retrying session does on a connection error).
        pool.request("GET", f"http://127.0.0.1:9/omni/get/score?id={INTERVIEW_ID}", timeout=1)
    retries = [r for r in caplog.records if r.name.startswith("urllib3")]
    assert any("Retrying" in r.getMessage() for r in retries), caplog.text
    assert INTERVIEW_ID not in caplog.text
    assert "id=[redacted]" in caplog.text
