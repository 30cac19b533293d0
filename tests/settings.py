"""Test settings: PostgreSQL and Redis (never a silent fallback), sandboxes on.

DATABASE_URL / REDIS_URL override the local defaults. The cache uses the Redis
database after the broker's, so clearing it between tests never drops queued tasks.
"""

import os
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# `make test` runs two pytest-xdist workers: each gets its own pair of Redis databases
# (broker, cache) after the given one, so a flush or a queued task of one never reaches
# the other. pytest-django gives each its own test database the same way (_gw0, _gw1).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.removeprefix("gw").isdigit() and not os.environ.get("_TEST_REDIS_SHIFTED"):
    _u = urlsplit(os.environ["REDIS_URL"])
    _db = int((_u.path or "/0").strip("/") or 0)
    _db = (_db + 2 * int(_worker.removeprefix("gw"))) % 16
    os.environ["REDIS_URL"] = urlunsplit(_u._replace(path=f"/{_db}"))
    os.environ.pop("CACHE_URL", None)
    os.environ["_TEST_REDIS_SHIFTED"] = "1"  # subprocesses inherit the shifted URL as is
if "CACHE_URL" not in os.environ:
    _u = urlsplit(os.environ["REDIS_URL"])
    _db = int((_u.path or "/0").strip("/") or 0)
    os.environ["CACHE_URL"] = urlunsplit(_u._replace(path=f"/{_db + 1}"))
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "0UqCeqXbfdZDeQyF4nIw6Ov1t3CWqvRd16ja5hF9j8Y=")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789")
os.environ.setdefault("SANDBOX", "true")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
# Playwright's sync API runs an event loop in the test thread; Django's ORM is fine there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from portal.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PUBLIC_RATE_LIMIT_PER_MINUTE = 100000
WEBHOOK_RATE_LIMIT_PER_MINUTE = PUBLIC_RATE_LIMIT_PER_MINUTE  # tests that limit set their own
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
STATIC_ROOT.mkdir(exist_ok=True)  # noqa: F405  (whitenoise warns when it is missing)
STAFF_REQUIRE_2FA = False  # tests/hardening switch it on
