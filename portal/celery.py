"""The Celery app. Settings come from Django settings with the CELERY_ prefix."""

import os

from celery import Celery

from kyc.metrics import connect_celery_signals
from portal.logfilter import install_celery_redaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
# Celery's own log handlers (task logger) pass the same redaction as settings.LOGGING's.
install_celery_redaction()
app.config_from_object("django.conf:settings", namespace="CELERY")
# Task failures count in /metrics (kyc/metrics.py).
connect_celery_signals()
# kyc.tasks plus every per-provider flow app's tasks module.
app.autodiscover_tasks()
