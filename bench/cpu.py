"""CPU time per request, by who spent it: what shares the two cores with the measured workers.

A ratio says how much slower a path is than its baseline; this says where the machine's
CPU went meanwhile. Before and after each load run the bench reads every process's user
and system time from /proc and sums them by who they are: the measured gunicorn (master
and workers), the Celery worker, the sandbox gunicorn, PostgreSQL's server processes,
Redis, wrk and the bench itself. Linux only; elsewhere the figures are left out.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Mapping
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Who is who, by program name, for what the bench did not start itself. wrk has exited by
# the time a run's second sample is read: it is what this process's children used.
BY_NAME = {"postgres": "postgresql", "redis-server": "redis"}
# The order the table names them in.
GROUPS = ("web", "worker", "sandbox", "postgresql", "redis", "wrk", "bench")
# What the bench started, group -> pid (bench.stack.Stack fills it in).
ROOTS: dict[str, int] = {}
# Which of the stack's processes is which group.
STACK_GROUPS = {"gunicorn": "web", "celery": "worker", "sandbox": "sandbox"}


def available() -> bool:
    return (PROC / "self" / "stat").exists()


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(program name, parent pid, user + system ticks) of one process, None when gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The name is in parentheses and may hold spaces: split after its closing one.
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return name, int(fields[1]), int(fields[11]) + int(fields[12])


def sample(roots: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each group; `roots` names the processes the bench
    started (group -> pid): each counts with every process below it. `wrk` is what this
    process's reaped children used (the load runs are its only children between samples)."""
    stats = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                stats[int(entry.name)] = found
    owner: dict[int, str] = {pid: group for group, pid in roots.items()}
    owner.setdefault(os.getpid(), "bench")

    def group_of(pid: int) -> str | None:
        seen: list[int] = []
        while pid in stats and pid not in owner and len(seen) < 64:
            seen.append(pid)
            pid = stats[pid][1]
        found = owner.get(pid)
        for p in seen:
            owner[p] = found  # type: ignore[assignment]
        return found

    used: dict[str, float] = dict.fromkeys(GROUPS, 0.0)
    for pid, (name, _parent, ticks) in stats.items():
        group = BY_NAME.get(name) or group_of(pid)
        if group is not None:
            used[group] += ticks / TICKS
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    used["wrk"] = reaped.ru_utime + reaped.ru_stime
    return used


def per_request(
    before: Mapping[str, float], after: Mapping[str, float], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request, by group, between two samples."""
    if requests <= 0:
        return {}
    return {g: max(0.0, after[g] - before[g]) * 1000 / requests for g in GROUPS}


def describe(ms: Mapping[str, float]) -> str:
    """ "web 1.9, worker 0.8, ..." (ms per request), the groups that used anything."""
    return ", ".join(f"{g} {ms[g]:.1f}" for g in GROUPS if ms.get(g, 0) >= 0.05)
