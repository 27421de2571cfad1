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
from whatsapp.models import Instance


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

    instance = serializers.SlugRelatedField(
        slug_field="name",
        queryset=Instance.objects.all(),
        required=False,
        allow_null=True,
        help_text=Trigger._meta.get_field("instance").help_text,
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
            "instance",
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
        # Which WhatsApp number: the model's rule (several instances and none named: a 400).
        current = self.instance
        fields = {name: attrs.get(name, getattr(current, name, None)) for name in ("source", "instance")}
        probe = Trigger(
            source=fields["source"] or "custom",
            action_type=action_type,
            action_payload=payload,
            secret=attrs.get("secret") or "",
            instance=fields["instance"],
        )
        if probe.source == "whatsapp" and probe.instance is None and not attrs.get("secret"):
            probe.secret = getattr(self.instance, "secret", "")
        try:
            probe.choose_instance()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs


class SentMessageSerializer(serializers.ModelSerializer):
    """A WhatsApp message an execution sent, with WhatsApp's delivery and read times."""

    id = serializers.CharField(source="message_id", read_only=True)
    instance = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = SentMessage
        fields = ["id", "instance", "recipient", "sent_at", "delivered_at", "read_at"]
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


class InstanceSerializer(StrictStringsMixin, serializers.ModelSerializer):
    """A WhatsApp instance; `token` is write-only (never shown, not even after a create)."""

    token = serializers.CharField(
        write_only=True,
        required=False,
        min_length=8,
        max_length=255,
        help_text="The instance token Evolution Go gave this number; required on create. "
        "Setting it again rotates it: the instance's whatsapp triggers verify with the new one.",
    )
    triggers = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = Instance
        fields = [
            "name",
            "url",
            "token",
            "daily_cap",
            "watermark",
            "state",
            "state_since",
            "banned_until",
            "triggers",
            "created_at",
        ]
        read_only_fields = ["state", "state_since", "banned_until", "triggers", "created_at"]

    def validate(self, attrs: dict) -> dict:
        if self.instance is None and not attrs.get("token"):
            raise serializers.ValidationError({"token": ["This field is required."]})
        token = attrs.get("token")
        if Instance.objects.held_by_another(token, self.instance):
            # Said without the token: an event's token must name one instance.
            raise serializers.ValidationError({"token": ["Another instance holds this token."]})
        return attrs
