"""OpenAPI post-processing: document the error answers every API operation can give."""

from typing import Any

ERROR_DESCRIPTIONS = {
    400: "The request is invalid; the answer names each problem.",
    401: "No valid credentials (a token or a staff session).",
    403: "Authenticated, but not staff, or without the permission this operation needs.",
    404: "No such object, page or trigger.",
    415: "The body is not application/json.",
}

ERROR_SCHEMA = {
    "type": "object",
    "description": 'An error: {"detail": ...}, {"error": ..., "message": ...}, or field names '
    "mapped to lists of messages (validation).",
    "additionalProperties": True,
}


def _error_codes(path: str, operation: dict) -> list[int]:
    parameters = operation.get("parameters", [])
    codes = []
    if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
        codes.append(400)
    if operation.get("security"):  # absent for the webhook, which signatures guard
        codes += [401, 403]
    if "{" in path or any(p["name"] == "page" for p in parameters):
        codes.append(404)
    if "requestBody" in operation:
        codes.append(415)
    return codes


def document_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Return the schema with the 4xx answers of each operation documented.

    An answer the view already documents (such as the webhook's own 401) is
    kept as it is; only missing codes are added, all with the `Error` schema.
    """
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code in _error_codes(path, operation):
                responses.setdefault(
                    str(code), {"description": ERROR_DESCRIPTIONS[code], "content": reference}
                )
    return result
