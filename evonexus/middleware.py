"""Request checks that apply to every URL."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse


class RejectNulInQueryMiddleware:
    """Answer 400 to a query string holding a NUL character.

    PostgreSQL text cannot hold NUL, so a NUL reaching a lookup (the admin's search,
    an API filter) would raise a database error, a 500. Refusing it here covers
    every view at once.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
            message = "The query string may not contain NUL (%00) characters."
            if request.path.startswith("/api/"):
                return JsonResponse({"error": "invalid_query", "message": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)
