"""The admin sign-in page, throttled per username (ADMIN_LOGIN_RATE) and per address."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django_ratelimit.core import is_ratelimited


def login_username(group: str, request: HttpRequest) -> str:
    """Return the submitted username as the auth backend will see it.

    Django's sign-in form strips whitespace and applies NFKC, so `"viewer "`
    and the same name in full-width letters are `viewer`: they share its budget.
    """
    return get_user_model().normalize_username(request.POST.get("username", "").strip())


def _limited(request: HttpRequest, group: str, key, rate: str) -> bool:
    return is_ratelimited(request, group=group, key=key, rate=rate, method="POST", increment=True)


def throttled_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """Return the admin's sign-in view, or a 429 page once a username or an address exceeds its rate.

    Attempts are counted per username (normalized as the backend sees it), so
    one account's password cannot be guessed at speed from many addresses, and
    per client address at a higher rate (`ADMIN_LOGIN_ADDRESS_RATE`: behind a
    tunnel many visitors can share one), so one address cannot spray many
    usernames. Past either, a 429 until the window ends (a minute by default).
    """
    if request.method == "POST" and (
        _limited(request, "admin-login", login_username, settings.ADMIN_LOGIN_RATE)
        | _limited(request, "admin-login-address", "ip", settings.ADMIN_LOGIN_ADDRESS_RATE)
    ):
        context = {**admin.site.each_context(request), "title": "Too many sign-in attempts"}
        return TemplateResponse(request, "admin/login_throttled.html", context, status=429)
    return admin.site.login(request, extra_context)
