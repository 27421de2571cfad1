"""The operators' console: triggers, and executions as a dead-letter queue with replay."""

import json
from collections import Counter
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from triggers.choices import ExecutionStatus
from triggers.execute import breaker, executor
from triggers.execute.messaging import resolve_recipient
from triggers.models import (
    ExecutionStats,
    GatewayBreaker,
    SentMessage,
    Trigger,
    TriggerExecution,
)
from triggers.operate import instances, replay, rotation
from triggers.operate.permissions import (
    CHANGE_INSTANCES,
    FORCE_REPLAY,
    OPERATE_BREAKER,
    RELEASE_OVER_CAP,
    REPLAY_EXECUTIONS,
    VIEW_EXECUTIONS,
)
from triggers.operate.preview import preview
from triggers.stats import figures
from triggers.stats.charts import charts
from triggers.validators import MIN_SECRET_LENGTH, generate_secret
from whatsapp.models import Instance

_STATUS_COLOURS = {
    ExecutionStatus.PENDING: "#6c757d",
    ExecutionStatus.RUNNING: "#0d6efd",
    ExecutionStatus.COMPLETED: "#198754",
    ExecutionStatus.FAILED_RETRYABLE: "#fd7e14",
    ExecutionStatus.FAILED: "#dc3545",
    ExecutionStatus.REPLAYED: "#6f42c1",
    ExecutionStatus.HELD: "#0aa2c0",
}

_BADGE_STYLE = "color:#fff;padding:2px 8px;border-radius:10px;white-space:nowrap"


def recipient_preview(execution: TriggerExecution) -> str:
    """Return who the execution messages on WhatsApp, or "—" when it sends nothing."""
    if not execution.trigger.sends_whatsapp:
        return "—"
    return resolve_recipient(execution.trigger.recipient, execution.event_data) or "(none found)"


def command_preview(execution: TriggerExecution) -> str:
    """Return the incoming message or command, else the event type, shortened."""
    event = execution.event_data if isinstance(execution.event_data, dict) else {}
    text = event.get("text") or event.get("event_type") or "—"
    return Truncator(str(text)).chars(60)


class ActionsAdmin(admin.ModelAdmin):
    """A ModelAdmin whose actions are declared with their permissions once, and pages built once.

    Selected ids that are not ids answer 400, not 500; posting an action the
    user may not run answers 403 (Django would drop it with a "no action
    selected" notice, but posting it anyway is an attempt).
    """

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        posted = request.POST.get("action") if request.method == "POST" else None
        if posted in (self.actions or ()) and posted not in self.get_actions(request):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def action_page(self, request: HttpRequest, template: str, title: str, **context) -> TemplateResponse:
        """Return the page an action shows before (or instead of) its work, in the admin's frame.

        `context` adds to what every such page has: the site, the model, the
        title, and what a confirming form needs (`queryset`, the checkbox name).
        """
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
            **context,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, template, context)

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                self.model._meta.pk.to_python(value)
        except ValidationError:
            return HttpResponseBadRequest("Selected rows must be given by their numeric ids.")
        return super().response_action(request, queryset)


class StrictJSONFormField(forms.JSONField):
    """A JSON form field that says why the JSON was refused (NUL, a lone surrogate, depth, a number).

    Django's own says only "Enter a valid JSON."; the decoder (`StrictJSONDecoder`)
    knows which rule the input broke, and the input is shown back as typed.
    """

    def to_python(self, value):
        if self.disabled or value in self.empty_values or isinstance(value, (list, dict, int, float)):
            return super().to_python(value)
        try:
            return json.loads(value, cls=self.decoder)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Enter a valid JSON: {exc.msg}.", code="invalid") from None


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin page to look at, not to edit: no add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Trigger)
class TriggerAdmin(ActionsAdmin):
    """Triggers. The secret is shown once, on the add form; after that only rotation changes it."""

    list_display = ["name", "slug", "source", "action_type", "instance", "enabled", "rotating", "created_at"]
    formfield_overrides = {models.JSONField: {"form_class": StrictJSONFormField}}
    list_filter = ["source", "action_type", "instance", "enabled"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["public_id", "webhook_path", "secret_status", "created_at", "updated_at"]
    actions = ["start_secret_rotation", "finish_secret_rotation", "cancel_secret_rotation"]

    def get_exclude(self, request: HttpRequest, obj: Trigger | None = None) -> list[str]:
        # Never render a stored secret: the change form has no secret field at all.
        return ["next_secret"] if obj is None else ["secret", "next_secret"]

    def get_readonly_fields(self, request: HttpRequest, obj: Trigger | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return [f for f in fields if f != "secret_status"] if obj is None else fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {**super().get_changeform_initial_data(request), "secret": generate_secret()}

    def get_form(self, request: HttpRequest, obj: Trigger | None = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.base_fields["secret"].help_text = (
                f"Generated; or paste the one your sender chose ({MIN_SECRET_LENGTH} characters or more). "
                "Copy it into the sender now: it is never shown again."
            )
        return form

    @admin.display(description="Webhook path")
    def webhook_path(self, trigger: Trigger) -> str:
        return trigger.get_webhook_path() if trigger.pk else "—"

    @admin.display(description="Rotating", boolean=True)
    def rotating(self, trigger: Trigger) -> bool:
        return bool(trigger.next_secret)

    @admin.display(description="Secret")
    def secret_status(self, trigger: Trigger) -> str:
        if trigger.next_secret:
            return (
                "Set, and rotating: a next secret verifies beside it. Finish or cancel the "
                "rotation with the actions on the trigger list."
            )
        return "Set (never shown again). To change it, start a secret rotation from the trigger list."

    @admin.action(description="Start a secret rotation (shows the next secrets once)", permissions=["change"])
    def start_secret_rotation(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> HttpResponse | None:
        user = request.user.get_username()
        rotated = []
        for trigger in queryset:
            try:
                rotated.append((trigger, rotation.start_rotation(trigger, user=user)))
            except rotation.RotationError as exc:
                self.message_user(request, f"{trigger}: {exc}", messages.WARNING)
        if not rotated:
            return None
        for trigger, _ in rotated:
            self.log_change(request, trigger, "Started a secret rotation.")
        template = "admin/triggers/trigger/next_secrets.html"
        response = self.action_page(request, template, "Next secrets", rotated=rotated)
        response["Cache-Control"] = "no-store"  # the page holds secrets
        return response

    @admin.action(
        description="Finish the secret rotation (the next secret replaces the current)",
        permissions=["change"],
    )
    def finish_secret_rotation(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        self._rotation_step(request, queryset, rotation.finish_rotation, "Finished")

    @admin.action(description="Cancel the secret rotation (drop the next secret)", permissions=["change"])
    def cancel_secret_rotation(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        self._rotation_step(request, queryset, rotation.cancel_rotation, "Cancelled")

    def _rotation_step(self, request: HttpRequest, queryset: QuerySet[Trigger], step, done: str) -> None:
        for trigger in queryset:
            try:
                step(trigger, user=request.user.get_username())
            except rotation.RotationError as exc:
                self.message_user(request, f"{trigger}: {exc}", messages.WARNING)
                continue
            self.log_change(request, trigger, f"{done} the secret rotation.")
            self.message_user(request, f"{trigger}: {done.lower()} the secret rotation.", messages.SUCCESS)


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"
    DLQ = "dlq"
    AWAITING_REDELIVERY = "redelivery"

    def lookups(self, request, model_admin):
        return [
            (self.DLQ, "Dead-letter queue"),
            (self.AWAITING_REDELIVERY, "Awaiting automatic redelivery"),
            *ExecutionStatus.choices,
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.DLQ:
            return queryset.dead_letter()
        if value == self.AWAITING_REDELIVERY:
            return queryset.awaiting_redelivery()
        if value in ExecutionStatus.values:
            return queryset.filter(status=value)
        return queryset


class DeliveryFilter(admin.SimpleListFilter):
    title = "WhatsApp delivery"
    parameter_name = "delivery"
    UNDELIVERED = "undelivered"

    def lookups(self, request, model_admin):
        minutes = settings.DELIVERY_ALERT_MINUTES
        return [(self.UNDELIVERED, f"Sent, not delivered ({minutes} min on)")]

    def queryset(self, request, queryset):
        if self.value() == self.UNDELIVERED:
            return queryset.filter(pk__in=SentMessage.objects.undelivered().values("execution_id"))
        return queryset


def _local_time(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}" if moment else "—"


@admin.register(TriggerExecution)
class TriggerExecutionAdmin(ActionsAdmin):
    list_display = [
        "id",
        "trigger",
        "status_badge",
        "error_category",
        "attempts",
        "duplicate_count",
        "recipient",
        "command",
        "created_at",
        "last_replay_at",
    ]
    list_filter = [StatusFilter, DeliveryFilter, "error_category", "trigger", "trigger__source"]
    list_select_related = ["trigger"]
    search_fields = ["idempotency_key", "error"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    actions = ["replay_selected", "release_held"]
    fields = [
        "trigger",
        "status_badge",
        "error_category",
        "attempts",
        "duplicate_count",
        "idempotency_key",
        "recipient",
        *TriggerExecution.TIMELINE,
        "replay_chain",
        "whatsapp_messages",
        "error",
        "result_summary",
        "pretty_event",
    ]
    readonly_fields = fields

    # --- read-only: executions are records, not documents --------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REPLAY_EXECUTIONS)

    def has_force_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(FORCE_REPLAY)

    def has_release_over_cap_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RELEASE_OVER_CAP)

    def get_queryset(self, request: HttpRequest) -> QuerySet[TriggerExecution]:
        return super().get_queryset(request).with_duplicate_count()

    # --- columns and detail fields -------------------------------------------------------

    @admin.display(description="duplicates", ordering="duplicate_count")
    def duplicate_count(self, execution: TriggerExecution) -> int:
        return execution.duplicate_count

    @admin.display(description="status", ordering="status")
    def status_badge(self, execution: TriggerExecution) -> str:
        label = execution.get_status_display()
        if execution.redelivery_at:
            label += f" · redelivery {timezone.localtime(execution.redelivery_at):%H:%M:%S}"
        return format_html(
            '<span class="status-badge" style="background:{};{}">{}</span>',
            _STATUS_COLOURS[execution.status],
            _BADGE_STYLE,
            label,
        )

    @admin.display(description="recipient")
    def recipient(self, execution: TriggerExecution) -> str:
        return recipient_preview(execution)

    @admin.display(description="command / message")
    def command(self, execution: TriggerExecution) -> str:
        return command_preview(execution)

    @admin.display(description="event (secrets redacted)")
    def pretty_event(self, execution: TriggerExecution) -> str:
        return format_html("<pre>{}</pre>", json.dumps(execution.event_data, indent=2, ensure_ascii=False))

    @admin.display(description="WhatsApp messages sent")
    def whatsapp_messages(self, execution: TriggerExecution) -> str:
        rows = [
            (
                m.message_id,
                m.instance.name if m.instance else "—",
                m.recipient,
                *map(_local_time, (m.sent_at, m.delivered_at, m.read_at)),
            )
            for m in execution.messages.select_related("instance")
        ]
        if not rows:
            return "—"
        cells = "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"
        body = format_html_join("", cells, rows)
        return format_html(
            '<table class="whatsapp-messages"><tr><th>id</th><th>from</th><th>to</th><th>sent</th>'
            "<th>delivered</th><th>read</th></tr>{}</table>",
            body,
        )

    @admin.display(description="replay chain")
    def replay_chain(self, execution: TriggerExecution) -> str:
        def link(other: TriggerExecution, label: str) -> tuple:
            url = reverse("admin:triggers_triggerexecution_change", args=[other.pk])
            return (label, url, other.pk, other.get_status_display())

        rows = []
        if execution.replay_of_id:
            rows.append(link(execution.replay_of, "replays"))
        rows += [link(newer, "replaced by") for newer in execution.replays.all()]
        if not rows:
            return "—"
        return format_html_join("", '{} <a href="{}">#{}</a> ({})<br>', rows)

    # --- the replay action ---------------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        # The page's Replay button posts the list's replay action for this one execution,
        # so it goes through the same confirmation page.
        execution = self.get_object(request, object_id)
        replayable = (
            execution is not None
            and self.has_replay_permission(request)
            and execution.replayable
        )
        extra_context = {**(extra_context or {}), "replayable": replayable}
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "watermark": figures.current_watermark()}
        return super().changelist_view(request, extra_context)

    @admin.action(permissions=["replay"], description="Replay selected executions")
    def replay_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        count = queryset.count()
        if count > settings.REPLAY_BULK_MAX:
            self.message_user(
                request,
                f"{count} executions selected; at most {settings.REPLAY_BULK_MAX} can be replayed at once. "
                "Narrow the list with the filters (e.g. a trigger or a date) and try again.",
                messages.ERROR,
            )
            return None
        executions = list(queryset.select_related("trigger").order_by("created_at", "id"))
        if request.POST.get("post") == "yes":
            return self._replay_confirmed(request, executions)
        return self._confirmation_page(request, executions)

    @admin.action(permissions=["replay"], description="Release held executions (send them now)")
    def release_held(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        held = queryset.filter(status=ExecutionStatus.HELD).select_related("trigger")
        plan = executor.plan_release(held.order_by("created_at", "id"))
        may_pass_cap = self.has_release_over_cap_permission(request)
        if request.POST.get("post") != "yes":
            return self.action_page(
                request,
                "admin/triggers/triggerexecution/release_confirmation.html",
                "Release held executions?",
                rows=[{"execution": e, "preview": preview(e)} for e in plan.held],
                room=plan.room,
                past_cap=plan.past_cap,
                may_pass_cap=may_pass_cap,
                queryset=plan.held,
            )
        if plan.past_cap and not may_pass_cap:
            self.message_user(
                request,
                f"Releasing these would send {plan.past_cap} past the WhatsApp daily cap, which needs the "
                "permission 'Can release held executions past the WhatsApp daily cap'. Nothing was released.",
                messages.ERROR,
            )
            return None
        released = executor.release_planned(plan)
        for execution in released:
            replay.record_in_history(request.user.pk, execution, "Released from held.")
        self.message_user(request, f"Released {len(released)} held execution(s), oldest first.")
        return None

    def _confirmation_page(self, request: HttpRequest, executions: list) -> TemplateResponse:
        force = self.has_force_replay_permission(request)
        rows = [
            {
                "execution": execution,
                "recipient": recipient_preview(execution),
                "command": command_preview(execution),
                "refusal": replay.check_replayable(execution, force=force),
                "warning": replay.double_send_warning(execution),
                "preview": replay.preview(execution),
            }
            for execution in executions
        ]
        return self.action_page(
            request,
            "admin/triggers/triggerexecution/replay_confirmation.html",
            "Replay executions?",
            to_replay=[row for row in rows if row["refusal"] is None],
            to_skip=[row for row in rows if row["refusal"] is not None],
            queryset=executions,
        )

    def _replay_confirmed(self, request: HttpRequest, executions: list) -> None:
        user = request.user.get_username()
        force = self.has_force_replay_permission(request)
        results = [
            replay.replay_execution(execution.pk, user=user, user_id=request.user.pk, force=force)
            for execution in executions
        ]
        replayed = sum(result.ok for result in results)
        skipped = Counter(result.refusal.reason.replace("_", " ") for result in results if not result.ok)
        if replayed:
            self.message_user(
                request, f"Replayed {replayed} execution(s); new pending executions were queued."
            )
        if skipped:
            reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
            self.message_user(request, f"Skipped {sum(skipped.values())}: {reasons}.", messages.WARNING)
        return None


class InstanceForm(forms.ModelForm):
    """An instance's form: the token is typed, never shown (blank on change: keep it)."""

    # A gateway beside evonexus is usually plain http (127.0.0.1:8080); https when written.
    url = forms.URLField(
        required=False, assume_scheme="http", help_text=Instance._meta.get_field("url").help_text
    )

    token = forms.CharField(
        required=False,
        min_length=8,
        max_length=255,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="The instance token Evolution Go gave this number. Never shown again; "
        "on a change, blank keeps it and a new one rotates it.",
    )

    class Meta:
        model = Instance
        fields = ["name", "url", "token", "daily_cap", "watermark"]

    def clean_token(self) -> str:
        token = self.cleaned_data.get("token") or ""
        if not token and self.instance.pk is None:
            raise ValidationError("This field is required.")
        if Instance.objects.held_by_another(token, self.instance):
            raise ValidationError("Another instance holds this token.")
        return token or self.instance.token


@admin.register(Instance)
class InstanceAdmin(ActionsAdmin):
    """The "WhatsApp instances" page: each number, its state, limits and server configuration."""

    form = InstanceForm
    list_display = [
        "name", "server", "state", "state_since", "sends_24h", "daily_cap", "watermark", "bound_triggers"
    ]
    readonly_fields = ["state", "state_since", "banned_until", "created_at"]
    search_fields = ["name"]
    actions = ["connect_webhook"]

    def has_connect_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CHANGE_INSTANCES)

    def get_list_display(self, request: HttpRequest) -> list:
        """Return the columns, the last one what the server stores, read once for this page.

        One short call per server; held by this request's column, never by the
        admin object all requests share.
        """
        views, error = instances.server_config(list(Instance.objects.all()))
        if error:
            text = f"The server's configuration could not be read: {error}"
            self.message_user(request, text, messages.WARNING)

        @admin.display(description="server configuration")
        def server_configuration(obj: Instance) -> str:
            view = views.get(obj.name)
            if view is None or (not view.found and error):
                return "unknown"
            if not view.found:
                return "not found on the server"
            if view.matches:
                return "matches (webhook to its trigger; messages, receipts, connection)"
            stored = f"webhook {view.webhook or '—'}, events {view.events or '—'}"
            return f"differs: {stored} (run the connect action)"

        return [*super().get_list_display(request), server_configuration]

    @admin.display(description="server")
    def server(self, obj: Instance) -> str:
        return obj.url or f"{obj.server_url} (EVOLUTION_GO_URL)"

    @admin.display(description="sends in 24 h")
    def sends_24h(self, obj: Instance) -> int:
        return figures.sends_24h(obj)

    @admin.display(description="triggers")
    def bound_triggers(self, obj: Instance) -> str:
        return ", ".join(obj.triggers.values_list("slug", flat=True)) or "—"

    @admin.action(description="Connect: point the webhook at its trigger, subscribe", permissions=["connect"])
    def connect_webhook(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        base = request.build_absolute_uri("/")
        for instance in queryset:
            result = instances.connect(instance, base_url=settings.PUBLIC_BASE_URL or base)
            if result.ok:
                self.log_change(request, instance, "Connected the webhook.")
                self.message_user(request, f"{instance.name}: webhook set and subscribed.", messages.SUCCESS)
            else:
                self.message_user(request, f"{instance.name}: {result.error}", messages.ERROR)


@admin.register(GatewayBreaker)
class GatewayBreakerAdmin(ReadOnlyAdmin, ActionsAdmin):
    """Each WhatsApp instance's breaker: its state, and the operator's open (maintenance) and close."""

    list_display = [
        "instance", "state", "waiting", "opened_at", "next_probe_at", "consecutive_failures", "changed_by"
    ]
    list_select_related = ["instance"]
    ordering = ["instance__name"]
    readonly_fields = [
        "instance",
        "state",
        "manual",
        "consecutive_failures",
        "opened_at",
        "next_probe_at",
        "probe_interval_seconds",
        "trial_execution_id",
        "last_error",
        "changed_at",
        "changed_by",
    ]
    actions = ["close_breaker", "open_breaker"]

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(OPERATE_BREAKER)

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        breaker.statuses()  # every instance's row exists from the first look on
        return super().changelist_view(request, extra_context)

    @admin.display(description="sends waiting")
    def waiting(self, obj: GatewayBreaker) -> int:
        return breaker.waiting(obj.instance).count()

    @admin.action(description="Close the breaker: send what waits", permissions=["operate"])
    def close_breaker(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set(request, queryset, open_=False)

    @admin.action(description="Open the breaker: hold WhatsApp sends (maintenance)", permissions=["operate"])
    def open_breaker(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set(request, queryset, open_=True)

    def _set(self, request: HttpRequest, queryset: QuerySet, *, open_: bool) -> None:
        user = request.user.get_username()
        for row in queryset.select_related("instance"):
            changed = breaker.set_by_operator(row.instance, open_, user=user)
            released = [] if open_ else executor.release_waiting(row.instance)
            self.log_change(request, row, "Opened the breaker." if open_ else "Closed the breaker.")
            name = row.instance.name
            if open_:
                text = "sends wait until the breaker is closed." if changed else "open already."
            else:
                text = f"breaker closed; {len(released)} waiting execution(s) released in arrival order."
            text = f"{name}: {text}"
            self.message_user(request, text, messages.SUCCESS if changed else messages.INFO)


@admin.register(ExecutionStats)
class ExecutionStatsAdmin(ReadOnlyAdmin):
    """The "Execution stats" page: the numbers for 1, 7 and 30 days, and the watermark."""

    WINDOWS = (1, 7, 30)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(VIEW_EXECUTIONS)

    def changelist_view(self, request: HttpRequest, extra_context=None) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        now = timezone.now()
        instance = request.GET.get("instance") or None
        if instance is not None and not Instance.objects.filter(name=instance).exists():
            text = f"No WhatsApp instance {instance[:50]!r}: showing every one."
            self.message_user(request, text, messages.WARNING)
            instance = None
        windows = [figures.compute_stats(days, now=now, instance=instance) for days in self.WINDOWS]
        hourly = figures.series(buckets=24, width=timedelta(hours=1), now=now)
        daily = figures.series(buckets=30, width=timedelta(days=1), now=now)
        executions_url = reverse("admin:triggers_triggerexecution_changelist")
        status_rows = [
            (label, f"{executions_url}?status={value}", [window.by_status[value] for window in windows])
            for value, label in ExecutionStatus.choices
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Execution stats",
            "opts": self.model._meta,
            "windows": windows,
            "status_rows": status_rows,
            "dlq_url": f"{executions_url}?status={StatusFilter.DLQ}",
            "undelivered_url": f"{executions_url}?delivery={DeliveryFilter.UNDELIVERED}",
            "watermark": windows[0].watermark,
            "instance": instance,
            "volumes": (volumes := figures.watermarks(now=now)),
            "total_sends": sum(volume.sends_24h for volume in volumes),
            "charts": charts(hourly, daily, windows[0].watermark.threshold),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/triggers/executionstats/stats.html", context)
