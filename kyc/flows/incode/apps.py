from django.apps import AppConfig


class IncodeFlowConfig(AppConfig):
    name = "kyc.flows.incode"
    label = "kyc_incode"
    verbose_name = "Incode"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kyc.flows.incode import signals

        signals.connect()
