"""The admin sign-in page, throttled per username (ADMIN_LOGIN_RATE)."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django_ratelimit.core import is_ratelimited


def throttled_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """Return the admin's sign-in view, or a 429 page once one username exceeds the rate.

    Attempts are counted per submitted username, whatever the address: behind a
    tunnel every visitor can share one address. A username with no attempts
    left waits out the window (a minute by default); other users are unaffected.
    """
    if request.method == "POST" and is_ratelimited(
        request,
        group="admin-login",
        key="post:username",
        rate=settings.ADMIN_LOGIN_RATE,
        method="POST",
        increment=True,
    ):
        context = {**admin.site.each_context(request), "title": "Too many sign-in attempts"}
        return TemplateResponse(request, "admin/login_throttled.html", context, status=429)
    return admin.site.login(request, extra_context)
