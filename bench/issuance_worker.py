"""Run one Sunbird issuance inline in a fresh process and report its time and peak memory.

    python -m bench.issuance_worker <run_id>

A fresh process per run, so the peak (VmHWM) belongs to this run alone; it runs
the same step code the Celery tasks run (providers.sunbird.services.run_execute_inline).
"""

from __future__ import annotations

import json
import sys
import time


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main(run_id: int) -> dict[str, object]:
    import django

    django.setup()
    from providers.sunbird import services
    from providers.sunbird.models import IssuanceRun

    IssuanceRun.objects.get(pk=run_id)  # connect and load models before the baseline reading
    rss_before = _status_kb("VmRSS")
    t0 = time.perf_counter()
    run = services.run_execute_inline(run_id, max_seconds=600)
    seconds = time.perf_counter() - t0
    return {
        "run_id": run_id,
        "status": run.status,
        "collected": run.collected_count,
        "seconds": seconds,
        "rss_before_kb": rss_before,
        "peak_rss_kb": _status_kb("VmHWM"),
        "last_error": run.last_error[:300],
    }


if __name__ == "__main__":
    print("BENCHJSON " + json.dumps(main(int(sys.argv[1]))), flush=True)
