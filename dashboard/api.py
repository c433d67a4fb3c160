"""Project-wide REST API plumbing (the shell's, so every app's API gets it):

- `not_found`: the 404 of an /api/ URL that no route matches is JSON, like every other API answer;
- `exception_handler`: DRF's, plus the project's own refusals, in one place for every API view: a Django
  ValidationError from a service is a 400 with field errors, a job on a busy target (TargetBusy,
  JobConflict) a 409, deleting a row others still use a 409 instead of a 500;
- `declare_error_answers`: a drf-spectacular post-processing hook that declares, on every operation of
  the schema, the error answers it can give and does not declare itself:
  400 `{field: [messages]}` (or `{"detail"}` for a body DRF cannot parse) - input refused, or a change
  refused for the state things are in; 403 `{"detail"}` - not logged in, bad token, not allowed (session
  authentication comes first, so never 401); 404 `{"detail"}` - no such object, not yours, not a valid
  id, no such page; 409 `{"detail", "code": "in_use"}` on a DELETE; 415 `{"detail"}` - a body in a media
  type the operation does not take. Views declare their own others (e.g. 409 "conflict").
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import page_not_found
from rest_framework import status
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from jobs.api import conflict_response
from jobs.errors import JobConflict, TargetBusy

ERROR = {
    "type": "object",
    "description": "A refusal in words.",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail"],
}
FIELD_ERRORS = {
    "type": "object",
    "description": "What was wrong with the input: field name (or `detail`, `non_field_errors`) -> messages.",
    "additionalProperties": {},
}
# Query parameters that never make an answer a 400 (DRF's pagination ignores a bad page size, and
# answers 404 for a page that does not exist).
PAGINATION = {"page", "page_size"}


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: API clients get JSON like every other API answer; people get the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return page_not_found(request, exception)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's, plus the project's refusals (see the module's docstring). Views let services raise."""
    if isinstance(exc, TargetBusy):
        return conflict_response(exc.conflict)
    if isinstance(exc, JobConflict):
        return conflict_response(exc)
    if isinstance(exc, DjangoValidationError):
        # {field: [messages]} when the service named fields, else {"detail": [messages]}.
        exc = APIValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})
    # Deleting a row that others still refer to (on_delete=PROTECT/RESTRICT): the database refused
    # before anything was deleted; say which rows are in the way.
    if isinstance(exc, ProtectedError | RestrictedError):
        users = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        by_kind: dict[str, list[str]] = {}
        for obj in users:
            by_kind.setdefault(str(obj._meta.verbose_name_plural), []).append(str(obj))
        what = "; ".join(
            f"{kind} ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})" for kind, names in by_kind.items()
        )
        message = _("Still in use by %(what)s; delete or change those first.") % {"what": what}
        return Response({"detail": message, "code": "in_use"}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)


def declare_error_answers(result: dict, generator, request, public) -> dict:
    """Add to each operation the error answers it can give and does not declare itself."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("FieldErrors", FIELD_ERRORS)
    error = {"$ref": "#/components/schemas/Error"}
    field_errors = {"$ref": "#/components/schemas/FieldErrors"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            parameters = operation.get("parameters", [])
            query = {p["name"] for p in parameters if p.get("in") == "query"}
            has_path = any(p.get("in") == "path" for p in parameters)
            has_body = "requestBody" in operation
            needs_login = {} not in operation.get("security", [{}])
            answers = {}
            # A change can be refused for the state things are in (services raise ValidationError), input or not.
            if method != "get" or query - PAGINATION:
                answers["400"] = ("The input was refused; the answer says why, field by field.", field_errors)
            if needs_login:
                answers["403"] = ("Not logged in, or not allowed.", error)
            if has_path or query & PAGINATION:
                answers["404"] = ("No such object (or not yours), or no such page.", error)
            if method == "delete":
                answers["409"] = ("Other records still use it (or it is busy); the answer says which.", error)
            if has_body:
                answers["415"] = ("The body is in a media type this operation does not take.", error)
            responses = operation["responses"]
            for code, (description, body) in answers.items():
                declared = responses.setdefault(code, {"description": description})
                declared.setdefault("content", {"application/json": {"schema": body}})
                if not declared.get("description"):
                    declared["description"] = description
    return result
