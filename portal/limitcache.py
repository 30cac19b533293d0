"""The embedded-mode cache for rate-limit counters: it never culls a live counter.

Django's file cache, once MAX_ENTRIES files exist, deletes a random 1/CULL_FREQUENCY
of them, live or not: anyone able to create entries (one per address or user name
tried) could reset an exhausted login limit that way. Counters all expire within
their window (an hour at most), so dropping only expired files keeps the directory
bounded by the traffic of one window; MAX_ENTRIES only says when to look.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.filebased import FileBasedCache


class RateLimitFileCache(FileBasedCache):
    def _cull(self) -> None:
        # Private helpers of Django's file cache (stable since 1.x; not in the type stubs).
        this: Any = self
        filelist = this._list_cache_files()
        if len(filelist) < self._max_entries:
            return
        for fname in filelist:
            try:
                with open(fname, "rb") as f:
                    this._is_expired(f)  # deletes the file when it has expired
            except (FileNotFoundError, OSError):
                continue  # removed by another process meanwhile
