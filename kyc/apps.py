from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "kyc"
    verbose_name = "KYC"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from kyc import checks  # noqa: F401  (registers system checks)
        from kyc.intake import accounts_forget
        from kyc.models import ProviderAccount

        # A changed account (secret, enabled, deleted) is never served from this
        # process's copy of it again (kyc.intake._account).
        post_save.connect(accounts_forget, sender=ProviderAccount, dispatch_uid="intake-accounts")
        post_delete.connect(accounts_forget, sender=ProviderAccount, dispatch_uid="intake-accounts")
