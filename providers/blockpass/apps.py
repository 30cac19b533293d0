from django.apps import AppConfig


class BlockpassFlowConfig(AppConfig):
    name = "providers.blockpass"
    label = "kyc_blockpass"
    verbose_name = "Blockpass flow"

    def ready(self) -> None:
        # Review decisions made on IdentityField / Certificate rows (admin inlines) move the
        # record status; the handlers live with the flow so kyc/admin/ stays generic.
        from providers.blockpass import signals

        signals.connect()
