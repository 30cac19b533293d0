"""A logging filter that masks secrets that slip into log messages.

Code should never log secrets in the first place; this is the second line: it
masks Authorization headers, api keys, tokens and passwords in formatted records.
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
    """What error pages and emailed exception reports may show when DEBUG is off.

    Django's default hides settings named like secrets and nothing else unless a
    view is decorated. Here, when active (DEBUG off), reports carry no frame
    local variables (they hold decrypted PII and provider settings), no POST
    values (settings forms post secrets), and settings/META entries whose names
    look like secrets or connection URLs (which can embed passwords) are hidden.
    """

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
        return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]
