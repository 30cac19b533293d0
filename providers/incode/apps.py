from django.apps import AppConfig

# urllib3 logs each retry with the URL it retries, query string included (Incode's
# `?id=<interviewId>`); its records are redacted at the source.
URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager")


class IncodeFlowConfig(AppConfig):
    name = "providers.incode"
    label = "kyc_incode"
    verbose_name = "Incode"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.logfilter import redact_loggers

        redact_loggers(*URLLIB3_LOGGERS)
