"""gunicorn's logger with the portal's redaction on its handlers (access and error log).

gunicorn configures its own handlers outside Django's LOGGING; gunicorn.conf.py
selects this class so an access log line (`GET /hooks/<provider>/<token>/?api_key=...`)
is redacted like every other record.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from portal.logfilter import RedactSecretsFilter


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        redact = RedactSecretsFilter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(redact)
