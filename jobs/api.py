"""REST API for jobs: read them, retry a failed one, cancel an unfinished one. Rules live in services."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import services
from jobs.api_pagination import StandardPagination
from jobs.choices import FINISHED, JobState
from jobs.errors import InvalidTransition, JobConflict, JobNotAllowed, UnknownJobKind
from jobs.models import Job
from jobs.registry import get_runner_class, label_for, registered_kinds
from jobs.selectors import can_manage, visible_jobs
from jobs.targets import parse_target


class JobSerializer(serializers.ModelSerializer):
    kind_label = serializers.SerializerMethodField()
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    finished = serializers.BooleanField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "kind_label",
            "target",
            "state",
            "state_label",
            "finished",
            "progress",
            "current_step",
            "steps",
            "error",
            "attempts",
            "cancel_requested",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "retry_at",
        ]
        read_only_fields = fields

    def get_kind_label(self, job: Job) -> str:
        return str(label_for(job.kind))


class JobDetailSerializer(JobSerializer):
    can_retry = serializers.SerializerMethodField()
    can_cancel = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "params", "log", "can_retry", "can_cancel"]
        read_only_fields = fields

    def get_can_retry(self, job: Job) -> bool:
        return job.state == JobState.FAILED and can_manage(job, self.context["request"].user)

    def get_can_cancel(self, job: Job) -> bool:
        return job.state not in FINISHED and not job.cancel_requested and can_manage(job, self.context["request"].user)


class ConflictSerializer(serializers.Serializer):
    """What a 409 says: the job (or VM) is in the wrong state, or another job holds its target."""

    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=["conflict", "invalid_state"])
    blocking_job = serializers.IntegerField(required=False, help_text="the unfinished job that holds the target")


def conflict_response(exc: JobConflict) -> Response:
    """409 for a refusal because another job is still running on the target: nothing was wrong with the input."""
    body = {"detail": exc.message, "code": "conflict"}
    if exc.blocking is not None:
        body["blocking_job"] = exc.blocking.pk
    return Response(body, status=status.HTTP_409_CONFLICT)


FILTERS = [
    OpenApiParameter("state", str, enum=JobState.values, description="only jobs in this state"),
    OpenApiParameter("kind", str, description="only jobs of this kind (a registered one, e.g. `vm.start`)"),
    OpenApiParameter(
        "target", str, description="only jobs on this target, `app_label.model:pk` (e.g. `vms.virtualmachine:42`)"
    ),
]
ACTION_RESPONSES = {
    200: JobDetailSerializer,
    403: OpenApiResponse(description="you may see the job but not act on it"),
    409: OpenApiResponse(
        ConflictSerializer, description="the job is in the wrong state, or another job holds its target"
    ),
}


def filter_jobs(qs: QuerySet[Job], params) -> QuerySet[Job]:
    """Apply ?state=, ?kind=, ?target= (empty means no filter); a value that cannot match is a 400 saying why."""
    errors = {}
    state, kind, target = (params.get(name, "") for name in ("state", "kind", "target"))
    if state and state not in JobState.values:
        errors["state"] = _("Unknown job state '%(value)s'; use one of: %(states)s.") % {
            "value": state,
            "states": ", ".join(JobState.values),
        }
    if kind and get_runner_class(kind) is None:
        errors["kind"] = _("Unknown job kind '%(value)s'; use one of: %(kinds)s.") % {
            "value": kind,
            "kinds": ", ".join(registered_kinds()),
        }
    if target:
        try:
            parse_target(target)
            if any(ord(ch) < 32 for ch in target):  # no target has them, and PostgreSQL refuses NUL
                raise ValueError(target)
        except ValueError:
            errors["target"] = _("'%(value)s' is not a job target; give it as app_label.model:pk.") % {"value": target}
    if errors:
        raise ValidationError({field: [message] for field, message in errors.items()})
    filters = {"state": state, "kind": kind, "target": target}
    return qs.filter(**{field: value for field, value in filters.items() if value})


@extend_schema_view(list=extend_schema(parameters=FILTERS))
class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Jobs you requested (staff: all jobs), newest first, 100 a page. Filter with ?state=, ?kind=, ?target=."""

    serializer_class = JobSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        qs = visible_jobs(self.request.user)
        if self.action == "list":
            qs = filter_jobs(qs, self.request.query_params)
        return qs

    def get_serializer_class(self):
        return JobSerializer if self.action == "list" else JobDetailSerializer

    @extend_schema(request=None, responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Queue a failed job again (steps already done are kept; runners are idempotent)."""
        return self._act(services.retry)

    @extend_schema(request=None, responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel a queued job; a running one stops at its next step and cleans up."""
        return self._act(services.cancel)

    def _act(self, operation) -> Response:
        job = self.get_object()  # 404 for jobs the caller may not see
        try:
            operation(job, self.request.user)
        except JobNotAllowed as exc:
            return Response({"detail": exc.message, "code": "not_allowed"}, status=status.HTTP_403_FORBIDDEN)
        except JobConflict as exc:
            return conflict_response(exc)
        except (InvalidTransition, UnknownJobKind) as exc:
            return Response({"detail": exc.message, "code": "invalid_state"}, status=status.HTTP_409_CONFLICT)
        job.refresh_from_db()
        return Response(JobDetailSerializer(job, context=self.get_serializer_context()).data)
