"""Settings of the benchmark stack: production settings plus three bench-only hooks.

run.py sets the environment (DEBUG off, bench database and Redis database, keys)
before this is imported. Only the bench loads this module, so the baseline views,
the query-count header and the QR counter never exist in a normal run.
"""

from portal.settings import *  # noqa: F403
from portal.settings import INSTALLED_APPS, MIDDLEWARE, VAR_DIR

BENCH = True
INSTALLED_APPS = [*INSTALLED_APPS, "bench.apps.BenchConfig"]
# First, so it counts the queries of every middleware too (sessions, auth).
MIDDLEWARE = ["bench.middleware.QueryCountMiddleware", *MIDDLEWARE]
# The portal's own urls plus the two baseline views.
ROOT_URLCONF = "bench.urls"
# collectstatic for the admin pages goes here, not into the project's staticfiles/.
STATIC_ROOT = VAR_DIR / "bench" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
WEBHOOK_RATE_LIMIT_PER_MINUTE = 1_000_000_000  # one sender (the bench) on one token: never refuse
