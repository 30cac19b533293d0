"""A real Celery worker process consumes a real task from Redis."""

import uuid

import pytest
from django.core.cache import cache

from kyc.tasks import ping
from tests.conftest import wait_for


@pytest.mark.worker
def test_it_runs_a_task_on_a_real_worker(celery_worker_process) -> None:
    token = uuid.uuid4().hex
    ping.delay(token)
    assert wait_for(lambda: cache.get(f"ping:{token}")) == "pong"
