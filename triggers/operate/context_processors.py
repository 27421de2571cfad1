"""What every admin page shows: a banner for each WhatsApp instance whose breaker holds sends back."""

from django.http import HttpRequest

from triggers.execute import breaker


def gateway_banner(request: HttpRequest) -> dict:
    """Return `gateway_breakers` (a `BreakerStatus` per instance down) for staff on admin pages.

    Elsewhere, and while every breaker is closed, nothing: the banner costs one
    small query per admin page and none anywhere else.
    """
    user = getattr(request, "user", None)
    if not request.path.startswith("/admin/") or not (user and user.is_active and user.is_staff):
        return {}
    down = breaker.open_statuses()
    return {"gateway_breakers": down} if down else {}
