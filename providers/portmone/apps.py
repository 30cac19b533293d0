from django.apps import AppConfig


class PortmoneFlowConfig(AppConfig):
    name = "providers.portmone"
    label = "kyc_portmone"
    verbose_name = "Portmone data share"
    default_auto_field = "django.db.models.BigAutoField"
