from django.apps import AppConfig


class CorePassFlowConfig(AppConfig):
    name = "providers.corepass"
    label = "kyc_corepass"
    verbose_name = "CorePass flow"
    default_auto_field = "django.db.models.BigAutoField"
