from django.apps import AppConfig


class SunbirdFlowConfig(AppConfig):
    name = "providers.sunbird"
    label = "kyc_sunbird"
    verbose_name = "Sunbird eCreds issuance"
    default_auto_field = "django.db.models.BigAutoField"
