"""Error pages: JSON under /api/ (what API clients parse), Django's own elsewhere."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Return a JSON 404 for API paths, Django's HTML 404 page for the rest."""
    if _is_api(request):
        return JsonResponse({"error": "not_found", "message": "No such API endpoint."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Return a JSON 500 for API paths (details are in the log, never in the answer)."""
    if _is_api(request):
        return JsonResponse(
            {"error": "server_error", "message": "Internal error; it was logged."}, status=500
        )
    return defaults.server_error(request)
