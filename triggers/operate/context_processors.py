"""What every admin page shows: the WhatsApp gateway breaker's banner while sends wait."""

from django.http import HttpRequest

from triggers.execute import breaker


def gateway_banner(request: HttpRequest) -> dict:
    """Return `gateway_breaker` (a `BreakerStatus`) for staff on admin pages while it holds sends back.

    Elsewhere, and while the breaker is closed, nothing: the banner costs one
    small query per admin page and none anywhere else.
    """
    user = getattr(request, "user", None)
    if not request.path.startswith("/admin/") or not (user and user.is_active and user.is_staff):
        return {}
    status = breaker.status()
    return {"gateway_breaker": status} if status.open else {}
