"""The migration to several WhatsApp numbers keeps a deployment of one number working as it was."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]

BEFORE = [("triggers", "0022_execution_cap_slot"), ("whatsapp", None)]
SETTINGS_TOKEN = "the-settings-instance-token"


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state([target for target in targets if target[1]]).apps


def test_it_makes_default_from_the_settings_and_binds_triggers_breaker_and_messages(settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = SETTINGS_TOKEN
    old = migrate(BEFORE)
    Trigger = old.get_model("triggers", "Trigger")
    Trigger.objects.create(name="l", slug="listener", source="whatsapp", secret=SETTINGS_TOKEN)
    Trigger.objects.create(name="o", slug="other-number", source="whatsapp", secret="another-token-0123")
    Trigger.objects.create(name="s", slug="sender", source="github", action_type="whatsapp")
    Trigger.objects.create(name="x", slug="script", source="custom", action_type="script")
    old.get_model("triggers", "GatewayBreaker").objects.create(pk=1, state="open")

    new = migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    Instance, Trigger = new.get_model("whatsapp", "Instance"), new.get_model("triggers", "Trigger")
    bound = dict(Trigger.objects.values_list("slug", "instance__name"))
    assert bound == {"listener": "default", "other-number": "other-number", "sender": None, "script": None}
    assert Instance.objects.get(name="default").token == SETTINGS_TOKEN
    assert Instance.objects.get(name="other-number").token == "another-token-0123"
    assert new.get_model("triggers", "GatewayBreaker").objects.get().instance.name == "default"


def test_with_one_number_a_trigger_that_only_sends_is_bound_to_it(settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = SETTINGS_TOKEN
    old = migrate(BEFORE)
    old.get_model("triggers", "Trigger").objects.create(name="s", slug="sender", action_type="whatsapp")
    old.get_model("triggers", "GatewayBreaker").objects.create(pk=1)

    new = migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert new.get_model("triggers", "Trigger").objects.get().instance.name == "default"


def test_without_a_settings_token_nothing_is_made_and_the_old_breaker_goes(settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""
    old = migrate(BEFORE)
    old.get_model("triggers", "GatewayBreaker").objects.create(pk=1, state="open")

    new = migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert not new.get_model("whatsapp", "Instance").objects.exists()
    assert not new.get_model("triggers", "GatewayBreaker").objects.exists()
