from django.apps import AppConfig


class IncodeFlowConfig(AppConfig):
    name = "providers.incode"
    label = "kyc_incode"
    verbose_name = "Incode"
    default_auto_field = "django.db.models.BigAutoField"
