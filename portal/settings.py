"""Settings, grouped by concern, all read through django-environ.

Two modes:
- embedded (no DATABASE_URL): SQLite and an on-disk Celery broker under var/,
  DEBUG and the provider sandboxes on, a dev encryption key generated once.
- production / tests: PostgreSQL and Redis from DATABASE_URL and REDIS_URL.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))


def _make_private(path: Path, mode: int) -> None:
    """chmod to `mode` when we own the path and it is more open (best effort)."""
    try:
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o777 != mode:
            path.chmod(mode)
    except OSError:
        pass


# Private (0700): it holds the SQLite database, the dev encryption key, broker and cache files.
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
_make_private(VAR_DIR, 0o700)

env = environ.Env()

# --- mode -------------------------------------------------------------------
EMBEDDED = not env.str("DATABASE_URL", default="")
DEBUG = env.bool("DEBUG", default=EMBEDDED)
SANDBOX = env.bool("SANDBOX", default=EMBEDDED)
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
# Outbound provider calls (kyc/http.py): per-provider host allow-lists replacing the
# defaults ("incode=api.example.com,*.incodesmile.com;portmone=..."), and extra networks
# (CIDR) provider URLs may reach besides public addresses. Both empty by default.
PROVIDER_ALLOWED_HOSTS = env.str("PROVIDER_ALLOWED_HOSTS", default="")
OUTBOUND_ALLOW_NETWORKS = env.list("OUTBOUND_ALLOW_NETWORKS", default=[])
# Outgoing webhooks (kyc/outbox.py): seconds before each attempt (the first is immediate;
# after the last failure the delivery is failed and replayable), the failure window that
# disables an endpoint, and how long a claimed send is not claimed again.
WEBHOOK_RETRY_SCHEDULE = env.list(
    "WEBHOOK_RETRY_SCHEDULE", cast=float, default=[0, 5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOK_DISABLE_AFTER_SECONDS = env.int("WEBHOOK_DISABLE_AFTER_SECONDS", default=5 * 86400)
WEBHOOK_SEND_LEASE_SECONDS = env.int("WEBHOOK_SEND_LEASE_SECONDS", default=60)
WEBHOOK_MAX_ENDPOINTS = env.int("WEBHOOK_MAX_ENDPOINTS", default=20)
WEBHOOK_BATCH_MAX = env.int("WEBHOOK_BATCH_MAX", default=20)  # sends per task to one endpoint
# Workers sending to one endpoint at a time: a slow endpoint cannot take them all.
WEBHOOK_ENDPOINT_CONCURRENCY = env.int("WEBHOOK_ENDPOINT_CONCURRENCY", default=4)
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)  # then logs are purged
# Operator metrics (/metrics, portal/metrics.py): a bearer token, and the networks that may
# scrape without it (loopback by default).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOW_NETWORKS = env.list("METRICS_ALLOW_NETWORKS", default=["127.0.0.0/8", "::1/128"])

# --- security ---------------------------------------------------------------
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-secret-key-change-me-" + "x" * 20)
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_URL])
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Largest request body we read; webhook views refuse bigger bodies before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_BODY_BYTES", default=2 * 1024 * 1024)
MAX_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE

# --- encryption of PII and provider secrets ---------------------------------
_keys = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not _keys:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be set when DEBUG is off "
            "(comma-separated Fernet keys; the first one encrypts)."
        )
    # Embedded mode: one dev key, generated once and reused so data survives restarts.
    _dev_key_file = VAR_DIR / "dev-field-encryption.key"
    if not _dev_key_file.exists():
        from cryptography.fernet import Fernet

        # Created 0600 (never readable by others, not even between create and chmod).
        try:
            _fd = os.open(_dev_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it meanwhile: use theirs
            pass
        else:
            with os.fdopen(_fd, "wb") as _key_out:
                _key_out.write(Fernet.generate_key())
    _keys = [_dev_key_file.read_text().strip()]
FIELD_ENCRYPTION_KEYS: list[str] = _keys

# --- apps -------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "django_otp",  # its TOTP device is kyc.StaffTOTPDevice (key encrypted at rest)
    "kyc",
    *env.list("EXTRA_APPS", default=[]),
]
# The providers, in the order of choices and URL mounting: one Provider class each
# (kyc.contract), loaded once by kyc.registry. Adding a provider is one line here
# (plus its Django app below while it has models, services or tasks).
PORTAL_PROVIDERS: list[str] = [
    "providers.corepass.provider.CorePassProvider",
    "providers.blockpass.provider.BlockpassProvider",
    "providers.incode.provider.IncodeProvider",
    "providers.portmone.provider.PortmoneProvider",
    "providers.sunbird.provider.SunbirdProvider",
]
# Per-provider domain apps (their own models and migrations) are listed here.
INSTALLED_APPS += [
    app
    for app in (
        "providers.corepass",
        "providers.blockpass",
        "providers.incode",
        "providers.portmone",
        "providers.sunbird",
    )
    if (BASE_DIR / app.replace(".", "/") / "apps.py").exists()
]

MIDDLEWARE = [
    "portal.metrics.RequestLatencyMiddleware",  # first: times the whole stack
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.SecurityHeadersMiddleware",
    # Provider deliveries and the customer page's poll stop here (kyc.sessionless):
    # nothing below has anything to do for them.
    "portal.middleware.SessionlessMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The customer's language: the django_language cookie (language switcher), then
    # Accept-Language; the customer page falls back to the merchant's default language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Staff see times in their own time zone (the browser's, from the `tz` cookie).
    "portal.middleware.ReviewerTimeZoneMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.middleware.SessionIdleTimeoutMiddleware",
    "portal.middleware.StaffTwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context.portal",
            ]
        },
    }
]

# --- database ---------------------------------------------------------------
if EMBEDDED:
    _sqlite_file = VAR_DIR / "portal.sqlite3"
    # Created 0600 before SQLite opens it (its -wal/-shm files take the same mode).
    os.close(os.open(_sqlite_file, os.O_WRONLY | os.O_CREAT, 0o600))
    for _f in (_sqlite_file, Path(f"{_sqlite_file}-wal"), Path(f"{_sqlite_file}-shm")):
        if _f.exists():
            _make_private(_f, 0o600)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite_file,
            # WAL + immediate transactions let web, worker and beat share one file.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
else:
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # No health check (a `SELECT 1` before each request's first query: a fifth of a
    # webhook delivery's time under load). Without it, a persistent connection that died
    # while idle (PostgreSQL restarted) fails the one request that next uses it -- a
    # delivery is answered 503 with Retry-After and the provider retries it, nothing is
    # half-written -- and Django replaces the connection at that request's end. An
    # operator behind a proxy that drops idle connections can turn it back on.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
# The delivery paths' statements (kyc/prepared.py) are prepared by PostgreSQL once per
# connection. Off for a pooler that cannot keep named prepared statements (PgBouncer in
# transaction mode before 1.21, or without max_prepared_statements).
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache (shared by every process: rate limits, poll state, sandboxes) ----
# Rate-limit counters have their own alias (kyc/ratelimit.py): evicting one would
# reset an exhausted limit (e.g. a login limit), so they must never be culled.
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_URL = env.str("CACHE_URL", default=REDIS_URL)
if CACHE_URL:
    _redis_cache = {
        "BACKEND": "portal.cache.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": env.str("CACHE_PREFIX", default="portal"),
    }
    # The same Redis (counters carry their own expiry, so Redis never needs to evict them).
    CACHES = {"default": _redis_cache, "ratelimit": dict(_redis_cache)}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        },
        # Culls expired counters only, never a live one (portal/limitcache.py).
        "ratelimit": {
            "BACKEND": "portal.limitcache.RateLimitFileCache",
            "LOCATION": str(VAR_DIR / "ratelimit"),
            "TIMEOUT": 3700,
            "OPTIONS": {"MAX_ENTRIES": 20000},
        },
    }

# --- celery -----------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport, but one redis client per channel instead of one per publish.
    CELERY_BROKER_TRANSPORT = "portal.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# The longest countdown we ever schedule; longer waits go through the database + beat.
CELERY_MAX_COUNTDOWN = 600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Outgoing webhooks have their own queue (workers consume "celery,webhooks"), so a slow
# merchant endpoint never delays provider work waiting in "celery".
CELERY_TASK_ROUTES = {
    "kyc.tasks.dispatch_webhook_message": {"queue": "webhooks"},
    "kyc.tasks.send_webhook_delivery": {"queue": "webhooks"},
}
# Keep LOGGING below (every handler redacts secrets) instead of Celery's own handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-inbox": {"task": "kyc.tasks.sweep_inbox", "schedule": 60.0},
    "sweep-webhooks": {"task": "kyc.tasks.sweep_webhooks", "schedule": 30.0},
    "reconcile-transfers": {"task": "kyc.tasks.reconcile_transfers", "schedule": 60.0},
    "erase-expired-pii": {
        "task": "kyc.tasks.erase_expired_pii",
        "schedule": crontab(hour=3, minute=0),
    },
    # Incode admin tokens live 24 h: hourly, replace those within 2 h of expiry.
    "incode-refresh-admin-tokens": {
        "task": "kyc.flows.incode.tasks.refresh_admin_tokens",
        "schedule": 3600.0,
    },
}

# --- auth, i18n, static -----------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# Staff (every signed-in user) need a TOTP second factor on merchant and admin pages.
STAFF_REQUIRE_2FA = env.bool("STAFF_REQUIRE_2FA", default=not DEBUG)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="KYC portal")
# Setting up an authenticator needs a one-time code a superuser issued (admin action on
# users, or `manage.py staff_setup_code`), not just the password.
STAFF_SETUP_CODE_REQUIRED = env.bool("STAFF_SETUP_CODE_REQUIRED", default=True)
STAFF_SETUP_CODE_HOURS = env.int("STAFF_SETUP_CODE_HOURS", default=72)
# Signed-in sessions end after this many seconds without a request (0: never).
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=1800)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# The languages the customer page ships (locale/<code>/LC_MESSAGES/django.po).
LANGUAGES = [("en", "English"), ("uk", "Українська"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Portmone answers no deep link: the customer page's "Open Portmone" button opens this
# universal link, built from the request code ({code}, URL-quoted). A code that already is
# an https link is used as it is. Set it to the link format Portmone gives your partner account.
PORTMONE_APP_LINK_FORMAT = env.str(
    "PORTMONE_APP_LINK_FORMAT", default="https://www.portmone.com.ua/r3/share?code={code}"
)
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# --- REST API ---------------------------------------------------------------
# Requests per API key ("<n>/<sec|min|hour|day>"), counted in the shared cache.
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/min")
# How long a POST repeating a running Idempotency-Key waits for the first answer (then 409).
API_IDEMPOTENCY_WAIT_SECONDS = env.float("API_IDEMPOTENCY_WAIT_SECONDS", default=10.0)
REST_FRAMEWORK = {
    # API keys first (their 401 names the Bearer scheme); then a member's session
    # (browsable API, docs), CSRF-checked and limited by the member's role.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.auth.ApiKeyAuthentication",
        "portal.api.auth.MerchantSessionAuthentication",
    ],
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.auth.HasKeyScope"],
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.CappedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "KYC portal API",
    "DESCRIPTION": "Ask customers for verified identity data and track what providers send.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.add_error_responses",
    ],
    # One name per choice set (the same choices reused by several serializers).
    "ENUM_NAME_OVERRIDES": {
        "ProviderEnum": "kyc.registry.choices",
        "TransferStatusEnum": "kyc.status.Status.choices",
        "ReviewStateEnum": "kyc.models.ReviewState.choices",
    },
}

# --- portal behaviour -------------------------------------------------------
TRANSFER_STALE_AFTER_SECONDS = env.int("TRANSFER_STALE_AFTER_SECONDS", default=120)
INBOX_SWEEP_AFTER_SECONDS = env.int("INBOX_SWEEP_AFTER_SECONDS", default=60)
PUBLIC_RATE_LIMIT_PER_MINUTE = env.int("PUBLIC_RATE_LIMIT_PER_MINUTE", default=600)
LOGIN_RATE_LIMIT_PER_MINUTE = env.int("LOGIN_RATE_LIMIT_PER_MINUTE", default=20)
LOGIN_ACCOUNT_RATE_LIMIT_PER_HOUR = env.int("LOGIN_ACCOUNT_RATE_LIMIT_PER_HOUR", default=100)
# Posts to /hooks/ URLs whose token matches nothing, per sender address (then 429, nothing stored).
UNKNOWN_HOOK_RATE_LIMIT_PER_MINUTE = env.int("UNKNOWN_HOOK_RATE_LIMIT_PER_MINUTE", default=30)
# Deliveries per minute to one known hook URL (per token); see kyc.intake, step 3.
WEBHOOK_RATE_LIMIT_PER_MINUTE = env.int(
    "WEBHOOK_RATE_LIMIT_PER_MINUTE", default=PUBLIC_RATE_LIMIT_PER_MINUTE
)
# How long a process may answer a merchant webhook URL from its own copy of the account
# (kyc.intake._account): a change made in another process reaches it within this many
# seconds (its own changes at once). 0: read the account for every delivery.
WEBHOOK_ACCOUNT_CACHE_SECONDS = env.float("WEBHOOK_ACCOUNT_CACHE_SECONDS", default=2.0)

# --- logging: nothing sensitive, see portal/logfilter.py ---------------------
# The filter sits on every handler, not on loggers: a record reaches a handler from
# whichever logger emitted it. Django's defaults give "django" and "django.server"
# handlers of their own (no filter); both are replaced here.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "portal.logfilter.RedactSecretsFilter"}},
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": [], "propagate": True, "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "propagate": False, "level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
    },
}
FORMS_URLFIELD_ASSUME_HTTPS = True
# Error pages and exception reports carry no locals, POST values or secret-like settings.
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.logfilter.RedactingExceptionReporterFilter"
