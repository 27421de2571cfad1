"""The public webhook endpoint: one event in, its outcome out as HTTP (the work is in `ingest`)."""

import logging
import time

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evonexus.logs import log_event
from triggers.receive import ingest
from triggers.stats.metrics import WEBHOOK_SECONDS, WEBHOOKS

logger = logging.getLogger("evonexus.webhook")

_REJECTION_STATUS = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "length_required": status.HTTP_411_LENGTH_REQUIRED,
    "invalid_content_length": status.HTTP_400_BAD_REQUEST,
    "invalid_idempotency_key": status.HTTP_400_BAD_REQUEST,
    "body_too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "unsupported_media_type": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "invalid_payload": status.HTTP_400_BAD_REQUEST,
    "unauthorized": status.HTTP_401_UNAUTHORIZED,
    # Nothing was stored: the sender's own retries bring the event again.
    "media_storage_unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}


class IgnoreAcceptHeader(BaseContentNegotiation):
    """Answer JSON whatever the client's Accept header says.

    A sender's Accept header (empty, text/plain, anything) must never turn an event
    away with a 406: the answer is JSON and the event is what matters.
    """

    def select_parser(self, request: Request, parsers: list) -> object | None:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


def delivery_from_request(request: Request) -> ingest.Delivery:
    """Return the parts of `request` the ingest pipeline reads."""
    return ingest.Delivery(
        headers=request.headers,
        content_type=request.content_type or "",
        content_length=request.META.get("CONTENT_LENGTH") or "",
        chunked="chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower(),
        # read(), not .body: Django would keep a copy of a large body for the whole request.
        read_body=lambda: request.read(),
        read_chunk=lambda size: request.read(size),
    )


def response_for(outcome: ingest.Outcome) -> Response:
    """Return the HTTP answer for what ingest did."""
    if outcome.status == ingest.REJECTED:
        return Response(
            {"error": outcome.reason, "message": outcome.message}, status=_REJECTION_STATUS[outcome.reason]
        )
    if outcome.status == ingest.IGNORED:
        return Response({"status": "ignored", "reason": outcome.reason}, status=status.HTTP_200_OK)
    if outcome.status == ingest.RECEIPT:
        return Response({"status": "receipt", "matched": outcome.matched}, status=status.HTTP_200_OK)
    if outcome.status == ingest.DUPLICATE:
        return Response(
            {"status": "duplicate", "skipped": True, "execution_id": outcome.execution_id},
            status=status.HTTP_200_OK,
            headers={"Idempotent-Replayed": "true"},
        )
    return Response(
        {"status": "accepted", "execution_id": outcome.execution_id}, status=status.HTTP_202_ACCEPTED
    )


def log_outcome(outcome: ingest.Outcome, response: Response, seconds: float) -> None:
    """Count and log one delivery's outcome (never its secrets: only the key and the ids)."""
    trigger = outcome.trigger
    WEBHOOKS.labels(trigger.source if trigger else "unknown", outcome.status).inc()
    WEBHOOK_SECONDS.observe(seconds)
    fields: dict = {}
    evt = "trigger_webhook"
    if outcome.status == ingest.REJECTED:
        fields = {"http_status": response.status_code, "reason": outcome.reason}
    elif outcome.status == ingest.IGNORED:
        fields = {"reason": outcome.reason}
    elif outcome.status == ingest.RECEIPT:
        fields = {"matched": outcome.matched}
    else:
        if outcome.status == ingest.DUPLICATE:
            evt = "idempotent_replay"
        fields = {"idem_key": outcome.key, "exec_id": outcome.execution_id}
    log_event(
        logger,
        evt,
        trigger_id=trigger.pk if trigger else None,
        source=trigger.source if trigger else None,
        outcome=outcome.status,
        **fields,
    )


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
        responses={code: OpenApiTypes.OBJECT for code in (200, 202, 400, 401, 404, 411, 413, 415, 503)},
        auth=[],
    )
    def post(self, request: Request, public_id: str) -> Response:
        started = time.perf_counter()
        outcome = ingest.receive(public_id, delivery_from_request(request))
        response = response_for(outcome)
        log_outcome(outcome, response, time.perf_counter() - started)
        return response
