"""A drf-spectacular post-processing hook (SPECTACULAR_SETTINGS): every operation that needs a login may
answer 429 - the address has too many failed logins (token authentication), or, for a submission, too many
refused ones in a minute. The answer says why and how long to wait (also in Retry-After)."""

from __future__ import annotations

ERROR = {"$ref": "#/components/schemas/Error"}
THROTTLED = "Too many failed logins from this address, or too many refused submissions; try again later."


def declare_throttling(result: dict, generator, request, public) -> dict:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Error",
        {"type": "object", "properties": {"detail": {"type": "string"}, "code": {"type": "string"}}},
    )
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if {} in operation.get("security", [{}]):
                continue  # open to anyone: no login to refuse
            declared = operation["responses"].setdefault("429", {"description": THROTTLED})
            declared.setdefault("content", {"application/json": {"schema": ERROR}})
    return result
