"""API representations of triggers and executions."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from triggers.models import SentMessage, Trigger, TriggerExecution
from triggers.validators import (
    MIN_SECRET_LENGTH,
    validate_action_payload,
    validate_event_filter,
    validate_key_paths,
)


class StrictStringsMixin:
    """Refuse numbers and booleans where a string is expected (DRF turns 123 into "123").

    The schema says string; accepting a number there makes a client's bug (or
    a fuzzer's probe) a silently stored value instead of a 400.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {
                name: ["Must be a string."]
                for name, field in self.fields.items()
                if isinstance(field, serializers.CharField)
                and not field.read_only
                and data.get(name) is not None
                and not isinstance(data[name], str)
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class TriggerSerializer(StrictStringsMixin, serializers.ModelSerializer):
    """A trigger; `secret` is write-only (shown once, in the answer to a create)."""

    webhook_url = serializers.SerializerMethodField()
    # Declared rather than derived from the JSONFields, so the schema says what shape they take.
    # Whether a database can store them the API's parser has checked already (triggers.operate.parsers).
    event_filter = serializers.DictField(
        required=False,
        validators=[validate_event_filter],
        help_text=Trigger._meta.get_field("event_filter").help_text,
    )
    idempotency_key_paths = serializers.ListField(
        child=serializers.CharField(max_length=255),
        required=False,
        validators=[validate_key_paths],
        help_text=Trigger._meta.get_field("idempotency_key_paths").help_text,
    )
    action_payload = serializers.DictField(
        required=False, help_text=Trigger._meta.get_field("action_payload").help_text
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        min_length=MIN_SECRET_LENGTH,
        max_length=255,
        help_text="Shared secret for signatures; generated (32 random bytes, hex) when omitted.",
    )

    secret_rotation_in_progress = serializers.SerializerMethodField(
        help_text="Whether a next secret verifies beside the current one (see /secret-rotation)."
    )

    class Meta:
        model = Trigger
        fields = [
            "id",
            "public_id",
            "name",
            "slug",
            "source",
            "event_filter",
            "idempotency_key_paths",
            "key_signed_bodies",
            "action_type",
            "action_payload",
            "recipient",
            "secret",
            "auto_redeliveries",
            "enabled",
            "webhook_url",
            "secret_rotation_in_progress",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["public_id", "created_at", "updated_at"]

    def get_webhook_url(self, trigger: Trigger) -> str:
        path = trigger.get_webhook_path()
        if settings.PUBLIC_BASE_URL:
            return settings.PUBLIC_BASE_URL.rstrip("/") + path
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_secret_rotation_in_progress(self, trigger: Trigger) -> bool:
        return bool(trigger.next_secret)

    def validate(self, attrs: dict) -> dict:
        action_type = attrs.get("action_type", getattr(self.instance, "action_type", "script"))
        payload = attrs.get("action_payload", getattr(self.instance, "action_payload", {}))
        try:
            validate_action_payload(action_type, payload)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"action_payload": exc.messages}) from None
        return attrs


class SentMessageSerializer(serializers.ModelSerializer):
    """A WhatsApp message an execution sent, with WhatsApp's delivery and read times."""

    id = serializers.CharField(source="message_id", read_only=True)

    class Meta:
        model = SentMessage
        fields = ["id", "recipient", "sent_at", "delivered_at", "read_at"]
        read_only_fields = fields


class ExecutionSerializer(serializers.ModelSerializer):
    """One execution of a trigger (read-only)."""

    trigger_slug = serializers.CharField(source="trigger.slug", read_only=True)
    # Annotated by the queryset (`with_duplicate_count`): duplicate deliveries absorbed.
    duplicate_count = serializers.IntegerField(read_only=True)
    messages = SentMessageSerializer(many=True, read_only=True)

    class Meta:
        model = TriggerExecution
        fields = [
            "id",
            "trigger",
            "trigger_slug",
            "status",
            "error_category",
            "idempotency_key",
            "attempts",
            "duplicate_count",
            "result_summary",
            "error",
            "event_data",
            *TriggerExecution.TIMELINE,
            "replay_of",
            "messages",
        ]
        read_only_fields = fields


class SecretRotationSerializer(StrictStringsMixin, serializers.Serializer):
    """The body of a rotation start: optionally, the next secret the sender chose."""

    next_secret = serializers.CharField(
        required=False,
        min_length=MIN_SECRET_LENGTH,
        max_length=255,
        write_only=True,
        help_text="The new secret; generated (32 random bytes, hex) when omitted.",
    )
