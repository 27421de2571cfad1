"""The webhook endpoint and the operators' REST API (thin: the work is in services)."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db.models import QuerySet
from django.utils.decorators import method_decorator
from django_ratelimit.decorators import ratelimit
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evonexus.logs import log_event
from triggers import replay, rotation, sources, stats
from triggers.ingest import record_event
from triggers.lookup import get_trigger
from triggers.metrics import WEBHOOK_SECONDS, WEBHOOKS
from triggers.models import ErrorCategory, ExecutionStatus, Trigger, TriggerExecution
from triggers.permissions import CanChangeTriggers, CanReplay, CanViewExecutions, ModelPermissions
from triggers.serializers import ExecutionSerializer, SecretRotationSerializer, TriggerSerializer

logger = logging.getLogger("evonexus.webhook")


def _is_json_content_type(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class IgnoreAcceptHeader(BaseContentNegotiation):
    """Answer JSON whatever the client's Accept header says.

    A sender's Accept header (empty, text/plain, anything) must never turn an event
    away with a 406: the answer is JSON and the event is what matters.
    """

    def select_parser(self, request: Request, parsers: list) -> object | None:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class WebhookView(APIView):
    """Accept one event for a trigger: authenticate, parse, filter, deduplicate, queue."""

    http_method_names = ["post"]  # OPTIONS too answers 405: there is nothing to discover
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []  # the raw body is needed for signatures
    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreAcceptHeader

    @extend_schema(
        summary="Deliver one event to a trigger",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={code: OpenApiTypes.OBJECT for code in (200, 202, 400, 401, 404, 411, 413, 415)},
        auth=[],
    )
    def post(self, request: Request, public_id: str) -> Response:
        self.started = time.perf_counter()
        trigger = get_trigger(public_id)
        if trigger is None:
            return self._reject(None, 404, "not_found", "No trigger with this webhook URL.")
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # A WSGI app reads a body only up to its Content-Length; unstated, it reads nothing.
            return self._reject(trigger, 411, "length_required", "Content-Length is required.")
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit():
            return self._reject(trigger, 400, "invalid_content_length", "Content-Length must be a number.")
        if int(length) > settings.WEBHOOK_MAX_BODY_BYTES:
            return self._reject(
                trigger,
                413,
                "body_too_large",
                f"Request body exceeds {settings.WEBHOOK_MAX_BODY_BYTES} bytes.",
            )
        if not _is_json_content_type(request.content_type or ""):
            return self._reject(
                trigger, 415, "unsupported_media_type", "Content-Type must be application/json."
            )
        body = request.body
        try:
            payload = sources.parse_json_body(body, max_depth=settings.WEBHOOK_MAX_JSON_DEPTH)
            sources.verify_request(
                trigger.source,
                trigger.signing_secrets(),
                request.headers,
                body,
                payload,
                now=time.time(),
                tolerance=settings.WEBHOOK_SIGNATURE_TOLERANCE_SECONDS,
            )
        except sources.InvalidPayload as exc:
            return self._reject(trigger, 400, "invalid_payload", str(exc))
        except sources.AuthenticationFailed as exc:
            return self._reject(trigger, 401, "unauthorized", str(exc))
        if not trigger.enabled:
            return self._ignore(trigger, "disabled")
        event = sources.parse_event(trigger.source, request.headers, payload)
        if not sources.matches_filter(event, trigger.event_filter):
            return self._ignore(trigger, "filtered")
        key = sources.extract_idempotency_key(
            trigger.source, request.headers, payload, event, trigger.idempotency_key_paths
        )
        recorded = record_event(trigger, sources.redact_secrets(event), key)
        if recorded.outcome == "duplicate":
            evt = "idempotent_replay_race" if recorded.raced else "idempotent_replay"
            self._log(evt, trigger, "duplicate", idem_key=key, exec_id=recorded.execution_id)
            return Response(
                {"status": "duplicate", "skipped": True, "execution_id": recorded.execution_id},
                status=status.HTTP_200_OK,
                headers={"Idempotent-Replayed": "true"},
            )
        self._log("trigger_webhook", trigger, "accepted", idem_key=key, exec_id=recorded.execution_id)
        return Response(
            {"status": "accepted", "execution_id": recorded.execution_id},
            status=status.HTTP_202_ACCEPTED,
        )

    def _log(self, evt: str, trigger: Trigger | None, outcome: str, **fields) -> None:
        WEBHOOKS.labels(trigger.source if trigger else "unknown", outcome).inc()
        WEBHOOK_SECONDS.observe(time.perf_counter() - self.started)
        log_event(
            logger,
            evt,
            trigger_id=trigger.pk if trigger else None,
            source=trigger.source if trigger else None,
            outcome=outcome,
            **fields,
        )

    def _reject(self, trigger: Trigger | None, code: int, error: str, message: str) -> Response:
        self._log("trigger_webhook", trigger, "rejected", http_status=code, reason=error)
        return Response({"error": error, "message": message}, status=code)

    def _ignore(self, trigger: Trigger, reason: str) -> Response:
        self._log("trigger_webhook", trigger, "ignored", reason=reason)
        return Response({"status": "ignored", "reason": reason}, status=status.HTTP_200_OK)


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
        responses={201: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
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
        queryset = TriggerExecution.objects.select_related("trigger").order_by("-created_at", "-id")
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
        responses={code: OpenApiTypes.OBJECT for code in (202, 404, 409, 429)},
    )
    @method_decorator(ratelimit(key="user", rate=_replay_api_rate, method="POST", block=False))
    def post(self, request: Request, pk: str) -> Response:
        if getattr(request, "limited", False):
            return Response(
                {"error": "too_many_requests", "message": f"At most {settings.REPLAY_API_RATE} replays."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": "60"},
            )
        result = replay.replay_execution(int(pk), user=request.user.get_username())
        if result.ok:
            return Response(
                {"status": "ok", "new_execution_id": result.new_execution_id}, status=status.HTTP_202_ACCEPTED
            )
        refusal = result.refusal
        body: dict = {"error": refusal.reason}
        headers = {}
        if refusal.current_status:
            body["current_status"] = refusal.current_status
        if refusal.retry_after_seconds is not None:
            body["retry_after_seconds"] = refusal.retry_after_seconds
            headers["Retry-After"] = str(refusal.retry_after_seconds)
        return Response(body, status=_REFUSAL_STATUS[refusal.reason], headers=headers)


class StatsView(APIView):
    """Return the operational stats over `?days=N` (1-30, default 1; out of range is clamped)."""

    permission_classes = [IsAdminUser, CanViewExecutions]

    @extend_schema(
        summary="Operational stats and the WhatsApp watermark",
        parameters=[OpenApiParameter("days", int, description="Window in days, 1-30 (clamped); default 1.")],
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
        return Response(stats.compute_stats(days))
