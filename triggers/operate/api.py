"""The operators' REST API: triggers, executions, replay, rotation, stats (thin: the work is in services)."""

from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.decorators import method_decorator
from django_ratelimit.decorators import ratelimit
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triggers.choices import ErrorCategory, ExecutionStatus
from triggers.models import Trigger, TriggerExecution
from triggers.operate import instances, replay, rotation
from triggers.operate.permissions import (
    FORCE_REPLAY,
    CanChangeTriggers,
    CanReplay,
    CanViewExecutions,
    ModelPermissions,
)
from triggers.operate.serializers import (
    ExecutionSerializer,
    InstanceSerializer,
    SecretRotationSerializer,
    TriggerSerializer,
)
from triggers.stats import figures
from whatsapp.models import Instance


class TriggerViewSet(viewsets.ModelViewSet):
    """Create, list, change and delete triggers (staff with the matching trigger permission)."""

    permission_classes = [IsAdminUser, ModelPermissions]
    queryset = Trigger.objects.all()
    serializer_class = TriggerSerializer

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        trigger = serializer.save()
        # The one time the secret is shown: the sender has to be configured with it.
        data = {**serializer.data, "secret": trigger.secret}
        return Response(data, status=status.HTTP_201_CREATED)


class SecretRotationView(APIView):
    """Start (POST) or cancel (DELETE) a rotation of a trigger's secret."""

    permission_classes = [IsAdminUser, CanChangeTriggers]

    @extend_schema(
        summary="Start a secret rotation: a next secret verifies beside the current one",
        request=SecretRotationSerializer,
        responses={201: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, pk: str) -> Response:
        trigger = get_object_or_404(Trigger, pk=pk)
        serializer = SecretRotationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            next_secret = rotation.start_rotation(
                trigger, serializer.validated_data.get("next_secret"), user=request.user.get_username()
            )
        except ValueError as exc:
            raise ValidationError({"next_secret": [str(exc)]}) from None
        except rotation.RotationError as exc:
            return Response({"error": "not_rotatable", "message": str(exc)}, status=status.HTTP_409_CONFLICT)
        # The one time the next secret is shown: the sender has to be configured with it.
        return Response({"status": "rotating", "next_secret": next_secret}, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a secret rotation: only the current secret verifies",
        responses={204: None, 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def delete(self, request: Request, pk: str) -> Response:
        trigger = get_object_or_404(Trigger, pk=pk)
        refusal = _rotation_refusal(rotation.cancel_rotation, trigger, request.user.get_username())
        return refusal or Response(status=status.HTTP_204_NO_CONTENT)


class SecretRotationFinishView(APIView):
    """Finish a rotation: the next secret becomes the only one."""

    permission_classes = [IsAdminUser, CanChangeTriggers]

    @extend_schema(
        summary="Finish a secret rotation: the next secret replaces the current one",
        request=None,
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, pk: str) -> Response:
        trigger = get_object_or_404(Trigger, pk=pk)
        refusal = _rotation_refusal(rotation.finish_rotation, trigger, request.user.get_username())
        return refusal or Response({"status": "finished"})


def _rotation_refusal(step: Callable[..., None], trigger: Trigger, user: str) -> Response | None:
    """Return a 409 answer if the rotation `step` does not apply to `trigger`, else `None`."""
    try:
        step(trigger, user=user)
    except rotation.RotationError as exc:
        return Response({"error": "no_rotation", "message": str(exc)}, status=status.HTTP_409_CONFLICT)
    return None


def _choice_param(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in choices:
        raise ValidationError({name: [f"Must be one of: {', '.join(choices)}."]})
    return value


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=ExecutionStatus.values, description="Only this status."),
            OpenApiParameter(
                "error_category", str, enum=ErrorCategory.values, description="Only this error category."
            ),
            OpenApiParameter("trigger", str, description="Only this trigger: its id or its slug."),
        ]
    )
)
class ExecutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """List and read executions, filtered by `status`, `trigger` and `error_category`."""

    permission_classes = [IsAdminUser, ModelPermissions]
    serializer_class = ExecutionSerializer
    queryset = TriggerExecution.objects.all()

    def get_queryset(self) -> QuerySet[TriggerExecution]:
        queryset = (
            TriggerExecution.objects.select_related("trigger")
            .with_duplicate_count()
            .prefetch_related("messages")
            .order_by("-created_at", "-id")
        )
        if self.action != "list":
            return queryset
        if status_ := _choice_param(self.request, "status", ExecutionStatus.values):
            queryset = queryset.filter(status=status_)
        if category := _choice_param(self.request, "error_category", ErrorCategory.values):
            queryset = queryset.filter(error_category=category)
        if trigger := self.request.query_params.get("trigger"):
            by_id = trigger.isdigit() and len(trigger) < 19  # beyond that it is no bigint
            lookup = {"trigger_id": int(trigger)} if by_id else {"trigger__slug": trigger}
            queryset = queryset.filter(**lookup)
        return queryset


_REFUSAL_STATUS = {
    replay.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    replay.NOT_REPLAYABLE: status.HTTP_409_CONFLICT,
    replay.TRIGGER_DISABLED: status.HTTP_409_CONFLICT,
    replay.ALREADY_DELIVERED: status.HTTP_409_CONFLICT,
    replay.WILL_NOT_RENDER: status.HTTP_409_CONFLICT,
    replay.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
}


def _replay_api_rate(group: str, request) -> str:
    return settings.REPLAY_API_RATE


class ReplayView(APIView):
    """Replay one failed execution: a new pending execution takes its place."""

    permission_classes = [IsAdminUser, CanReplay]

    @extend_schema(
        summary="Replay a failed execution",
        request=None,
        parameters=[
            OpenApiParameter(
                "force",
                str,
                enum=["true", "false"],
                description="Replay even when WhatsApp delivered its message (needs its own permission).",
            )
        ],
        responses={code: OpenApiTypes.OBJECT for code in (202, 403, 404, 409, 429)},
    )
    @method_decorator(ratelimit(key="user", rate=_replay_api_rate, method="POST", block=False))
    def post(self, request: Request, pk: str) -> Response:
        if getattr(request, "limited", False):
            return Response(
                {"error": "too_many_requests", "message": f"At most {settings.REPLAY_API_RATE} replays."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": "60"},
            )
        force = _choice_param(request, "force", ["true", "false"]) == "true"
        if force and not request.user.has_perm(FORCE_REPLAY):
            raise PermissionDenied("Forcing a replay of a delivered message needs its own permission.")
        original = TriggerExecution.objects.filter(pk=pk).first()
        warning = replay.double_send_warning(original) if original else None
        result = replay.replay_execution(
            int(pk), user=request.user.get_username(), user_id=request.user.pk, force=force
        )
        if result.ok:
            accepted = {"status": "ok", "new_execution_id": result.new_execution_id}
            if warning:
                accepted["warning"] = warning
            return Response(accepted, status=status.HTTP_202_ACCEPTED)
        refusal = result.refusal
        body: dict = {"error": refusal.reason}
        headers = {}
        if refusal.current_status:
            body["current_status"] = refusal.current_status
        if refusal.retry_after_seconds is not None:
            body["retry_after_seconds"] = refusal.retry_after_seconds
            headers["Retry-After"] = str(refusal.retry_after_seconds)
        return Response(body, status=_REFUSAL_STATUS[refusal.reason], headers=headers)


class ReplayPreviewView(APIView):
    """What replaying an execution would send now: recipient, incoming text, outgoing message or script."""

    permission_classes = [IsAdminUser, CanReplay]

    @extend_schema(
        summary="Preview what a replay would send",
        responses={code: OpenApiTypes.OBJECT for code in (200, 404)},
    )
    def get(self, request: Request, pk: str) -> Response:
        execution = get_object_or_404(TriggerExecution.objects.select_related("trigger"), pk=pk)
        refusal = replay.check_replayable(execution, force=request.user.has_perm(FORCE_REPLAY))
        return Response(
            {
                "execution_id": execution.pk,
                **replay.preview(execution).as_dict(),
                "warning": replay.double_send_warning(execution),
                "replayable": refusal is None,
                "refusal": refusal.describe() if refusal else None,
            }
        )


class StatsView(APIView):
    """Return the operational stats over `?days=N` (1-30, default 1; out of range is clamped)."""

    permission_classes = [IsAdminUser, CanViewExecutions]

    @extend_schema(
        summary="Operational stats and the WhatsApp watermark",
        parameters=[
            OpenApiParameter("days", int, description="Window in days, 1-30 (clamped); default 1."),
            OpenApiParameter("instance", str, description="One WhatsApp instance's messages and watermark."),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("days", "1").strip()
        try:
            days = int(raw)
        except ValueError:
            raise ValidationError(
                {"days": [f"Must be an integer number of days (1-30), not {raw[:20]!r}."]}
            ) from None
        instance = request.query_params.get("instance")
        if instance is not None and not Instance.objects.filter(name=instance).exists():
            raise ValidationError({"instance": [f"No WhatsApp instance {instance[:50]!r}."]})
        return Response(figures.compute_stats(days, instance=instance).as_dict())


@extend_schema_view(
    destroy=extend_schema(responses={204: None, 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT}),
    create=extend_schema(responses={201: InstanceSerializer, 400: OpenApiTypes.OBJECT}),
    update=extend_schema(responses={200: InstanceSerializer, 400: OpenApiTypes.OBJECT}),
    partial_update=extend_schema(responses={200: InstanceSerializer, 400: OpenApiTypes.OBJECT}),
)
class InstanceViewSet(viewsets.ModelViewSet):
    """Create, list, change and delete WhatsApp instances (staff with the matching instance permission).

    The token is write-only. An instance that triggers name cannot be deleted
    (409). Two creates racing for one name or token: one wins, the other 400s.
    """

    permission_classes = [IsAdminUser, ModelPermissions]
    queryset = Instance.objects.prefetch_related("triggers").order_by("name")
    serializer_class = InstanceSerializer
    lookup_field = "name"

    def perform_create(self, serializer: InstanceSerializer) -> None:
        self._save(serializer)

    def perform_update(self, serializer: InstanceSerializer) -> None:
        self._save(serializer)

    def _save(self, serializer: InstanceSerializer) -> None:
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            raise ValidationError({"detail": ["Another instance holds this name or token."]}) from None

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        try:
            instances.delete_instance(self.get_object())
        except instances.InstanceInUse as exc:
            refusal = {"error": "instance_in_use", "message": str(exc)}
            return Response(refusal, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)
