# Read by gunicorn from the working directory: its access and error logs pass the
# same secret-redacting filter as the portal's own logs (portal/logfilter.py).
logger_class = "portal.gunicorn_log.RedactingLogger"


def child_exit(server, worker):  # noqa: ANN001  (gunicorn's hook signature)
    """A worker is gone: forget its live metrics files (PROMETHEUS_MULTIPROC_DIR)."""
    from kyc.metrics import mark_process_dead

    mark_process_dead(worker.pid)
