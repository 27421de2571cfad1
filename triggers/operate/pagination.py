"""API pagination: DRF's page numbers, with an empty `page` refused like any other bad one."""

from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination


class StrictPageNumberPagination(PageNumberPagination):
    def get_page_number(self, request, paginator) -> str | int:
        """Return the requested page; `?page=` (empty) is a 404 "Invalid page.", not page 1."""
        if request.query_params.get(self.page_query_param) == "":
            raise NotFound(self.invalid_page_message)
        return super().get_page_number(request, paginator)
