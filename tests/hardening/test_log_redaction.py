"""Django's request and runserver loggers (and gunicorn's, and Celery's) pass the same
redaction as the portal's own logs: query-string keys, e-mail references, and the
tokens in /hooks/<provider>/<token>/ and /hooks/corepass/t/<token>/ paths."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from portal.logfilter import RedactSecretsFilter
from tests.hardening.embedded import run_embedded

pytestmark = pytest.mark.django_db

API_KEY = "kp_abcdefgh_SECRETsecretSECRETsecret"
EMAIL = "jane.doe@example.com"
WEBHOOK_TOKEN = "WhTok3nWhTok3nWhTok3n"
CALLBACK_TOKEN = "CbTok3nCbTok3nCbTok3n"
SECRETS = (API_KEY, EMAIL, WEBHOOK_TOKEN, CALLBACK_TOKEN, "SECRETsecret")


def handlers_reaching(name: str) -> list[logging.Handler]:
    logger: logging.Logger | None = logging.getLogger(name)
    found: list[logging.Handler] = []
    while logger is not None:
        found += logger.handlers
        logger = logger.parent if logger.propagate else None
    # pytest's own capture handlers are not the portal's configuration.
    return [
        h
        for h in found
        if isinstance(h, logging.StreamHandler) and not type(h).__module__.startswith("_pytest")
    ]


@pytest.fixture
def streams() -> Iterator[io.StringIO]:
    """Every stream handler the portal configured writes into one buffer meanwhile."""
    out = io.StringIO()
    handlers = {
        h for n in ("", "django", "django.request", "django.server") for h in handlers_reaching(n)
    }
    old = {h: h.setStream(out) for h in handlers}
    yield out
    for h, stream in old.items():
        h.setStream(stream)


def assert_clean(text: str) -> None:
    assert text.strip(), "nothing was logged"
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} is in the log:\n{text}"


@pytest.mark.parametrize(
    "name", ["django.request", "django.server", "django", "celery.worker", "kyc"]
)
def test_it_puts_the_filter_on_every_handler(name) -> None:
    handlers = handlers_reaching(name)
    assert handlers
    for h in handlers:
        assert any(isinstance(f, RedactSecretsFilter) for f in h.filters), (name, h)


def test_it_redacts_the_request_logger(client, streams) -> None:
    client.get(f"/hooks/portmone/{WEBHOOK_TOKEN}/x/?api_key={API_KEY}&reference={EMAIL}")
    client.get(f"/hooks/corepass/t/{CALLBACK_TOKEN}/nothing-here")
    text = streams.getvalue()
    assert "Not Found" in text
    assert_clean(text)


def test_it_redacts_the_runserver_access_log(streams) -> None:
    # What django.core.servers.basehttp.WSGIRequestHandler.log_message emits.
    for request_line, status, size in (
        (f"GET /api/incode/start?api_key={API_KEY}&reference={EMAIL} HTTP/1.1", 200, "12"),
        (f"POST /hooks/corepass/t/{CALLBACK_TOKEN}/data HTTP/1.1", 200, "2"),
        (f"POST /hooks/blockpass/{WEBHOOK_TOKEN}/api/login HTTP/1.1", 404, "2"),
    ):
        logging.getLogger("django.server").info(
            '"%s" %s %s',
            request_line,
            str(status),
            size,
            extra={"request": None, "server_time": "now", "status_code": status},
        )
    text = streams.getvalue()
    assert text.count("HTTP/1.1") == 3
    assert "/hooks/corepass/t/[redacted]/data" in text
    assert_clean(text)


def test_it_redacts_gunicorns_access_and_error_logs() -> None:
    from gunicorn.config import Config

    from portal.gunicorn_log import RedactingLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    log = RedactingLogger(cfg)
    out = io.StringIO()
    for handler in log.access_log.handlers + log.error_log.handlers:
        handler.setStream(out)  # type: ignore[attr-defined]
    log.access_log.info(f"GET /hooks/incode/{WEBHOOK_TOKEN}/?api_key={API_KEY}")
    log.error_log.error(f"error on /hooks/corepass/t/{CALLBACK_TOKEN}/status for {EMAIL}")
    assert_clean(out.getvalue())


def test_it_keeps_the_redaction_in_a_celery_worker(tmp_path) -> None:
    code = """
import logging
from portal.celery import app
from portal.logfilter import RedactSecretsFilter
app.log.setup(loglevel="INFO")
handlers = logging.getLogger().handlers + logging.getLogger("celery.task").handlers
handlers = [h for h in handlers if not isinstance(h, logging.NullHandler)]
print(all(any(isinstance(f, RedactSecretsFilter) for f in h.filters) for h in handlers), len(handlers))
"""
    ok, count = run_embedded(tmp_path / "var", code).split()
    assert ok == "True" and int(count) >= 1
