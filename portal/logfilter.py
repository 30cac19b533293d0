"""A logging filter that masks secrets that slip into log messages.

Code should never log secrets in the first place; this is the second line: it
masks Authorization headers, api keys, tokens and passwords in formatted records,
the bearer tokens that live in URL paths (a merchant's webhook token in
/hooks/<provider>/<token>/, a request's CorePass callback token in
/hooks/corepass/t/<token>/, a customer page token in /t/<token>/), and e-mail
addresses and query-string values (`reference=`, `id=`, ...). settings.LOGGING attaches it
to every handler (Django's request and runserver loggers included; Celery keeps
that configuration; gunicorn.conf.py installs it on gunicorn's own handlers), so
every record passes it whichever logger emitted it.
"""

import logging
import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

_PATTERNS = [
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer\s+)?[^\s'\",}]+"),
    re.compile(
        r"(?i)((?:api[_-]?key|x-api-key|client_secret|password|secret|token|access_token|"
        r"refresh_token|stoc|stoc_refresh|pepper)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"
    ),
    re.compile(r"\bkp_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{20,}\b"),
    # Tokens in URL paths: /hooks/<provider>/<token>/..., /hooks/corepass/t/<token>/...
    # and customer pages /t/<token>/... (each of them is a bearer credential).
    re.compile(r"(/hooks/[A-Za-z0-9_-]+/(?:t/)?)[^/\s?#\"']+"),
    re.compile(r"((?:^|[\s\"'(=,]|://[^/\s]+)/t/)[^/\s?#\"']+"),
    # Customer references in query strings (Incode's token server: often e-mail addresses).
    re.compile(r"(?i)([?&]reference=)[^&\s\"'#]+"),
    # Every other query-string value too (urllib3's retry warnings print the URL with
    # Incode's `?id=<interviewId>`): parameter names stay readable, values do not.
    re.compile(r"([?&][A-Za-z0-9_.-]+=)[^&\s\"'#)]+"),
    # E-mail addresses anywhere, plain or percent-encoded.
    re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not kill logging
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # The traceback's exception message is formatted after filters run: redact it now.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class RedactingExceptionReporterFilter(SafeExceptionReporterFilter):
    """What error pages and exception reports may show, with DEBUG on or off.

    Django's default hides settings named like secrets and, with DEBUG on, nothing
    else: its debug page would print every frame's local variables, and ours hold
    decrypted provider settings (ProviderAccount.settings/state, the API key and
    password a client is about to send), decrypted PII and raw deliveries. Here the
    filter is active whatever DEBUG says: frame locals are listed by name and type
    only, POST values are hidden (settings forms post secrets), and settings/META
    entries whose names look like secrets or connection URLs (which can embed
    passwords) are hidden. `make run` serves DEBUG pages, so this matters there too.
    """

    def is_active(self, request: Any) -> bool:
        return True

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|PEPPER|URL|LOCATION|DSN|AUTH",
        flags=re.I,
    )

    def get_post_parameters(self, request: Any) -> Any:
        if request is None or not self.is_active(request):
            return super().get_post_parameters(request)
        return {name: self.cleansed_substitute for name in request.POST}

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        if not self.is_active(request):
            return super().get_traceback_frame_variables(request, tb_frame)
        return [
            (name, f"{self.cleansed_substitute} ({type(value).__name__})")
            for name, value in tb_frame.f_locals.items()
        ]


def redact_handlers_of(logger: logging.Logger | None = None, **_: Any) -> None:
    """Put the filter on every handler of `logger` (once). Connected to Celery's
    after_setup_logger / after_setup_task_logger: Celery gives its task logger
    handlers of its own, outside settings.LOGGING."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactSecretsFilter) for f in handler.filters):
            handler.addFilter(RedactSecretsFilter())


def install_celery_redaction() -> None:
    from celery import signals

    signals.after_setup_logger.connect(redact_handlers_of, weak=False)
    signals.after_setup_task_logger.connect(redact_handlers_of, weak=False)
