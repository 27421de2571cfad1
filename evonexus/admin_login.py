"""The admin sign-in page, throttled per client address and per username from that address."""

import ipaddress

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


def client_address(group: str, request: HttpRequest) -> str:
    """Return the address of the client that sent `request`, as the throttle counts it.

    The peer (`REMOTE_ADDR`), unless it is one of `TRUSTED_PROXIES` (the
    production recipe's nginx): then the last address of `X-Forwarded-For`
    that is not a trusted proxy, since each proxy appends the address it got
    the request from and only the entries our proxies wrote can be believed.
    From any other peer the header is ignored: a client cannot pick its address.
    """
    peer = request.META.get("REMOTE_ADDR", "")
    trusted = settings.TRUSTED_PROXIES
    if peer not in trusted:
        return peer
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed(forwarded):
        if address and address not in trusted:
            return _valid_address(address) or peer
    return peer


def _valid_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def username_from_address(group: str, request: HttpRequest) -> str:
    """Return the submitted username and the client's address: the per-account budget is per address.

    So an attacker's failures spend their own address's budget for that
    account, never the real operator's signing in from elsewhere.
    """
    return f"{login_username(group, request)}|{client_address(group, request)}"


def _limited(request: HttpRequest, group: str, key, rate: str) -> bool:
    return is_ratelimited(request, group=group, key=key, rate=rate, method="POST", increment=True)


def throttled_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """Return the admin's sign-in view, or a 429 page once an address exceeds its rates.

    Attempts are counted per client address (`client_address`: the real one
    behind `TRUSTED_PROXIES`) at `ADMIN_LOGIN_ADDRESS_RATE`, so one address
    cannot spray many usernames, and per username from that address at
    `ADMIN_LOGIN_RATE` (normalized as the backend sees it), so one account's
    password cannot be guessed at speed. Neither is shared between addresses:
    failures from one never lock out a sign-in from another. Past either, a
    429 until the window ends (a minute by default).
    """
    if request.method == "POST" and (
        _limited(request, "admin-login", username_from_address, settings.ADMIN_LOGIN_RATE)
        | _limited(request, "admin-login-address", client_address, settings.ADMIN_LOGIN_ADDRESS_RATE)
    ):
        context = {**admin.site.each_context(request), "title": "Too many sign-in attempts"}
        return TemplateResponse(request, "admin/login_throttled.html", context, status=429)
    return admin.site.login(request, extra_context)
