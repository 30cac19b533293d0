"""A logging filter that masks secrets that slip into log messages.

Code should never log secrets in the first place; this is the second line: it
masks Authorization headers, api keys, tokens and passwords in formatted records.
"""

import logging
import re

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
        return True
