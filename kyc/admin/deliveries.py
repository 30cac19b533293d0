"""Stored provider deliveries (evidence of what a provider sent): reprocess, or apply the
chosen one of two conflicting deliveries."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from kyc import services
from kyc.admin.base import EvidenceAdmin, LinkedListsMixin, MerchantFilter
from kyc.admin.columns import admin_link, badge_column, changelist_link, table_column, time_column
from kyc.models import InboundEvent, TransferEvent
from kyc.permissions import Action


@admin.register(InboundEvent)
class InboundEventAdmin(LinkedListsMixin, EvidenceAdmin):
    link_lookups = frozenset({"transfer__id__exact", "transfer__record__id__exact"})
    list_display = (
        "id",
        "provider",
        "kind",
        "merchant",
        "transfer_link",
        "state_badge",
        "verified",
        "received",
        "attempts",
        "error",
    )
    list_filter = ("provider", "state", "verified", MerchantFilter)
    search_fields = ("dedupe_key", "kind")
    list_select_related = ("merchant", "transfer")
    show_full_result_count = False
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-id")
    readonly_fields = (
        "provider",
        "kind",
        "merchant",
        "account",
        "transfer_link",
        "events",
        "path",
        "headers_table",
        "body_size",
        "remote_addr",
        "received",
        "dedupe_key",
        "duplicate_of",
        "verified",
        "state_badge",
        "processed",
        "attempts",
        "error",
        "erased_at",
    )
    fields = readonly_fields
    actions = ("reprocess", "choose_delivery")
    # Stored deliveries are evidence of what a provider sent: nobody edits them, and only
    # a superuser deletes one (audited, EvidenceAdmin).

    @admin.display(description="request")
    def transfer_link(self, obj: InboundEvent) -> str:
        t = obj.transfer
        return admin_link(t, t.reference) if t is not None else "—"

    @admin.display(description="events")
    def events(self, obj: InboundEvent) -> str:
        n = TransferEvent.objects.filter(inbound=obj).count()
        return changelist_link(TransferEvent, f"{n} event(s)", inbound__id__exact=obj.pk)

    headers_table = table_column("headers", "headers")
    state_badge = badge_column("state", "state")
    received = time_column("received_at", "received", short=True)
    processed = time_column("processed_at", "processed")

    @admin.action(description="Reprocess selected deliveries", permissions=["retry"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet) -> None:
        from kyc import tasks

        ids = list(
            self.permitted(request, queryset, Action.RETRY)
            .exclude(state=InboundEvent.State.DUPLICATE)
            .values_list("pk", flat=True)
        )
        InboundEvent.objects.filter(pk__in=ids).update(state=InboundEvent.State.RECEIVED)
        for pk in ids:
            tasks.process_inbound.delay(pk)
        services.audit_log(actor=request.user, action="inbound.reprocess", detail={"ids": ids})
        self.message_user(request, f"Queued {len(ids)} deliveries for processing.")

    @admin.action(
        description="Apply the selected delivery to its request in review (settles a conflict)",
        permissions=["review"],
    )
    def choose_delivery(self, request: HttpRequest, queryset: QuerySet) -> None:
        # Two different data deliveries for one request are never first-wins: staff pick
        # one here; the provider applies it and marks the others as not chosen.
        from kyc import registry

        events = list(self.permitted(request, queryset, Action.REVIEW)[:2])
        if len(events) != 1:
            self.message_user(request, "Select exactly one delivery.", messages.ERROR)
            return
        event = events[0]
        provider = registry.find(event.provider)
        if provider is None or not provider.delivery_choose(event_id=event.pk, actor=request.user):
            self.message_user(
                request,
                f"Delivery #{event.pk} settles nothing: only a kept conflicting delivery of a "
                "request in review can be applied.",
                messages.ERROR,
            )
            return
        self.message_user(request, f"Delivery #{event.pk} applied; the request is completed.")
