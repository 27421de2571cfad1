"""The API's JSON parser: the same rules as the webhook's (triggers.sources.body.parse_json_body)."""

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from triggers.sources.base import InvalidPayload
from triggers.sources.body import parse_json_body


class StrictJSONParser(JSONParser):
    """Parse a JSON object body, refusing what a database cannot store or a parser could misread.

    DRF's own parser lets NUL characters through to PostgreSQL (a 500) and takes
    the last of two equal keys; here both are a 400 that says why.
    """

    def parse(self, stream, media_type=None, parser_context=None) -> dict:
        raw = stream.read() if stream is not None else b""
        try:
            return parse_json_body(raw, max_depth=settings.WEBHOOK_MAX_JSON_DEPTH)
        except InvalidPayload as exc:
            raise ParseError(str(exc)) from None
