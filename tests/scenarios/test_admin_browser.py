"""An operator replays a dead-lettered execution in a real browser (Playwright + Debian's Chromium)."""

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from tests.support.processes import ROOT
from triggers.models import SentMessage, TriggerExecution
from whatsapp.models import Instance

pytestmark = pytest.mark.process  # every test here starts a process

SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is needed: apt-get install chromium (.ci/run installs it)"
    return path


@pytest.fixture
def page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test makes around it are still synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield browser.new_page(viewport={"width": 1400, "height": 900})
        browser.close()
        # While Playwright's loop runs, Django hands this thread a context-local
        # connection; close it, or the test database cannot be dropped afterwards.
        connections.close_all()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_an_operator_replays_a_dead_lettered_execution_from_the_admin(
    server, page, django_user_model, make_trigger, make_failed_execution
):
    user = django_user_model.objects.create_user("operator", password="pw-operator-1", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_triggerexecution", "replay_triggerexecution"])
    )
    trigger = make_trigger(
        name="WhatsApp commands",
        source="whatsapp",
        action_type="whatsapp",
        action_payload={"message": "Your balance, {{ text }}: R$ 10"},
    )
    failed = make_failed_execution(
        trigger,
        key="3EB0C127D5D1A7F6B4E2",
        event={"text": "/balance", "sender": "5511977776666@s.whatsapp.net"},
    )

    page.goto(f"{server.url}/admin/login/?next=/admin/triggers/triggerexecution/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "pw-operator-1")
    page.click("input[type=submit]")
    page.get_by_role("link", name="Dead-letter queue").click()
    page.check(f"input[name=_selected_action][value='{failed.pk}']")
    page.select_option("select[name=action]", "replay_selected")
    page.click("button[name=index]")

    confirmation = page.locator("#replay-list")
    expect(confirmation).to_contain_text("5511977776666@s.whatsapp.net")
    expect(confirmation).to_contain_text("/balance")
    expect(confirmation).to_contain_text(failed.created_at.strftime("%Y-%m-%d %H:%M:%S"))
    expect(confirmation.locator(".will-send")).to_contain_text("Your balance, /balance: R$ 10")
    assert screenshot(page, "replay-confirmation").stat().st_size > 10_000

    # The execution's own page leads to the same confirmation.
    page.goto(f"{server.url}/admin/triggers/triggerexecution/{failed.pk}/change/")
    page.locator(".replay-button").click()
    expect(page.locator("#replay-list .will-send")).to_contain_text("Your balance, /balance: R$ 10")

    page.get_by_role("button", name="Yes, replay 1").click()
    expect(page.locator(".messagelist")).to_contain_text("Replayed 1 execution(s)")
    replacement = TriggerExecution.objects.get(replay_of=failed)
    page.goto(f"{server.url}/admin/triggers/triggerexecution/?status=pending")
    expect(page.locator(f"input[name=_selected_action][value='{replacement.pk}']")).to_be_attached()
    expect(page.locator("#result_list")).to_contain_text("Pending")
    screenshot(page, "replayed-execution-pending")
    assert os.path.exists(SCREENSHOTS / "replay-confirmation.png")
    page.goto(f"{server.url}/admin/triggers/triggerexecution/{failed.pk}/history/")
    expect(page.locator("#change-history")).to_contain_text(f"Replayed as execution #{replacement.pk}")


def test_the_stats_page_shows_the_watermark_badge(server, page, django_user_model, make_trigger):
    django_user_model.objects.create_superuser("admin", password="pw-admin-1")
    trigger = make_trigger()
    executions = TriggerExecution.objects.bulk_create(
        TriggerExecution(trigger=trigger, status="completed", whatsapp_attempts=1) for _ in range(51)
    )
    number, now = Instance.objects.create(name="shop", token="the-shops-token-0123"), timezone.now()
    SentMessage.objects.bulk_create(
        SentMessage(execution=e, instance=number, message_id=f"m{e.pk}", recipient="x", sent_at=now)
        for e in executions
    )

    page.goto(f"{server.url}/admin/login/?next=/admin/triggers/executionstats/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-admin-1")
    page.click("input[type=submit]")

    expect(page.locator(".watermark-hit")).to_contain_text("watermark hit on shop (51/50 in the last 24 h)")
    expect(page.locator("#execution-stats")).to_contain_text("WhatsApp sends")
    expect(page.locator("svg.stats-chart")).to_have_count(3)
    assert screenshot(page, "execution-stats-charts").stat().st_size > 10_000
    page.emulate_media(color_scheme="dark")  # the admin's dark mode: the charts stay readable
    screenshot(page, "execution-stats-charts-dark")


def test_an_operator_rotates_a_trigger_secret_from_the_admin(server, page, django_user_model, make_trigger):
    django_user_model.objects.create_superuser("admin", password="pw-admin-1")
    trigger = make_trigger(name="GitHub pushes", source="github")

    page.goto(f"{server.url}/admin/login/?next=/admin/triggers/trigger/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-admin-1")
    page.click("input[type=submit]")
    page.check(f"input[name=_selected_action][value='{trigger.pk}']")
    page.select_option("select[name=action]", "start_secret_rotation")
    page.click("button[name=index]")

    trigger.refresh_from_db()
    expect(page.locator("#next-secrets .next-secret")).to_have_text(trigger.next_secret)
    screenshot(page, "next-secret-shown-once")
    page.get_by_role("link", name="Back to the triggers").click()
    page.check(f"input[name=_selected_action][value='{trigger.pk}']")
    page.select_option("select[name=action]", "finish_secret_rotation")
    page.click("button[name=index]")

    expect(page.locator(".messagelist")).to_contain_text("finished the secret rotation")
    rotated_to = trigger.next_secret
    trigger.refresh_from_db()
    assert (trigger.secret, trigger.next_secret) == (rotated_to, "")
    page.goto(f"{server.url}/admin/triggers/trigger/{trigger.pk}/change/")
    expect(page.locator(".field-secret_status")).to_contain_text("never shown again")
    assert rotated_to not in page.content()


def test_an_operator_adds_a_number_whose_token_no_page_shows_and_sees_which_number_is_down(
    server, page, django_user_model
):
    django_user_model.objects.create_superuser("admin", password="pw-admin-1")
    token = "the-shops-instance-token-typed-once"
    page.goto(f"{server.url}/admin/login/?next=/admin/whatsapp/instance/add/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-admin-1")
    page.click("input[type=submit]")

    page.fill("#id_name", "shop")
    page.fill("#id_token", token)
    page.fill("#id_daily_cap", "300")
    page.click("input[name=_save]")
    expect(page.locator("#result_list")).to_contain_text("shop")
    listing = page.content()
    page.goto(f"{server.url}/admin/whatsapp/instance/{Instance.objects.get().pk}/change/")
    change_form = page.content()

    from triggers.execute import breaker

    breaker.connection_lost(Instance.objects.get(), "disconnected", error="reported disconnected")
    page.goto(f"{server.url}/admin/")
    expect(page.locator(".gateway-breaker-banner")).to_contain_text("WhatsApp instance shop:")
    screenshot(page, "instance-down-banner")

    assert Instance.objects.get().token == token
    assert token not in listing and token not in change_form
