"""Staff manage key reservations and watch/retry issuance runs (scoped to their merchants)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from kyc.admin.base import MerchantFilter, MerchantScopedAdmin
from kyc.admin.columns import table_column
from kyc.errors import InvalidInput
from kyc.permissions import Action
from kyc.templatetags.admin_json import stamp
from providers.sunbird import services
from providers.sunbird.models import IssuanceRun, IssuanceStep, KeyReservation


@admin.register(KeyReservation)
class KeyReservationAdmin(MerchantScopedAdmin):
    # Which signing keys runs may use: issuance configuration, for those who start runs.
    add_rule = change_rule = delete_rule = Action.START_ISSUANCE
    list_display = ("key_id", "purpose", "root_org_id", "root_org_name", "added_by", "created_at")
    list_filter = ("purpose", MerchantFilter)
    search_fields = ("key_id", "root_org_id", "root_org_name", "comment")
    readonly_fields = ("added_by", "run", "created_at")
    fields = (
        "merchant",
        "root_org_id",
        "root_org_name",
        "key_id",
        "purpose",
        "comment",
        *readonly_fields,
    )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and obj.added_by_id is None:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)


# A step's outcome, in the run's inline and on the step's own page.
_STEP_OUTCOME = (
    "status",
    "attempts",
    "started",
    "finished",
    "error",
    "request_table",
    "answer_table",
)


class StepSummaries:
    """A step's request and answer summaries as key/value tables, times with seconds."""

    request_table = table_column("request_summary", "request sent")
    answer_table = table_column("answer_summary", "answer")

    @admin.display(description="started")
    def started(self, obj: IssuanceStep) -> str:
        return stamp(obj.started_at)

    @admin.display(description="finished")
    def finished(self, obj: IssuanceStep) -> str:
        return stamp(obj.finished_at)


class IssuanceStepInline(StepSummaries, admin.TabularInline):
    model = IssuanceStep
    extra = 0
    can_delete = False
    fields = ("name", *_STEP_OUTCOME)
    readonly_fields = fields
    classes = ("evidence-inline",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IssuanceRun)
class IssuanceRunAdmin(MerchantScopedAdmin):
    list_display = (
        "pk",
        "merchant",
        "course_id",
        "batch_id",
        "status",
        "current_step",
        "collected_count",
        "expected_count",
        "created_at",
    )
    list_filter = ("status", MerchantFilter)
    search_fields = ("course_id", "batch_id", "root_org_id", "root_org_name")
    inlines = (IssuanceStepInline,)
    actions = ("resume", "resubmit_issue")
    # Started from the merchant page (it validates keys and settings); a run's inputs are
    # what the steps sent to Sunbird, so it is never edited or deleted afterwards.
    readonly_fields = (
        "status",
        "current_step",
        "chain_token",
        "registry_count",
        "collected_count",
        "collect_offset",
        "stable_polls",
        "heartbeat_at",
        "last_error",
        "created_by",
        "created_at",
        "updated_at",
        "finished_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A run's inputs are what the steps sent to Sunbird: never edited after the fact.
        return [f.name for f in IssuanceRun._meta.fields]

    @admin.action(
        description="Retry / resume from the first unfinished step",
        permissions=["start_issuance"],
    )
    def resume(self, request: HttpRequest, queryset: QuerySet[IssuanceRun]) -> None:
        n = 0
        allowed = self.permitted(request, queryset, Action.START_ISSUANCE)
        for run in allowed.exclude(status=IssuanceRun.Status.DONE):
            services.run_resume(run_id=run.pk, actor=request.user)
            n += 1
        messages.success(request, f"{n} run(s) resumed.")

    @admin.action(
        description="Re-submit the issue call of unknown outcome (learners may get two)",
        permissions=["start_issuance"],
    )
    def resubmit_issue(self, request: HttpRequest, queryset: QuerySet[IssuanceRun]) -> None:
        n = 0
        for run in self.permitted(request, queryset, Action.START_ISSUANCE):
            try:
                services.run_issue_resubmit(run_id=run.pk, actor=request.user)
            except InvalidInput as exc:
                messages.error(request, f"Run #{run.pk}: {exc.message}")
            else:
                n += 1
        if n:
            messages.warning(request, f"{n} run(s): the issue call will be sent again.")


@admin.register(IssuanceStep)
class IssuanceStepAdmin(StepSummaries, MerchantScopedAdmin):
    merchant_path = "run__merchant"
    list_display = ("run", "name", "status", "attempts", "started", "finished")
    list_filter = ("status", "name")  # steps are written by the run only (rules: nobody)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["run", "name", "order", *_STEP_OUTCOME]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)
