"""REST API for jobs: read them, retry a failed one, cancel an unfinished one. Rules live in services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import services
from jobs.choices import FINISHED, JobState
from jobs.errors import InvalidTransition, JobConflict, JobNotAllowed, UnknownJobKind
from jobs.models import Job
from jobs.registry import label_for
from jobs.selectors import can_manage, visible_jobs


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


class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Jobs you requested (staff: all jobs), newest first. Filter with ?state=, ?kind=, ?target=."""

    serializer_class = JobSerializer

    def get_queryset(self):
        qs = visible_jobs(self.request.user)
        for field in ("state", "kind", "target"):
            value = self.request.query_params.get(field)
            if value:
                qs = qs.filter(**{field: value})
        return qs

    def get_serializer_class(self):
        return JobSerializer if self.action == "list" else JobDetailSerializer

    @extend_schema(request=None, responses={200: JobDetailSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Queue a failed job again (steps already done are kept; runners are idempotent)."""
        return self._act(services.retry)

    @extend_schema(request=None, responses={200: JobDetailSerializer})
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
            body = {"detail": exc.message, "code": "conflict"}
            if exc.blocking is not None:
                body["blocking_job"] = exc.blocking.pk
            return Response(body, status=status.HTTP_409_CONFLICT)
        except (InvalidTransition, UnknownJobKind) as exc:
            return Response({"detail": exc.message, "code": "invalid_state"}, status=status.HTTP_409_CONFLICT)
        job.refresh_from_db()
        return Response(JobDetailSerializer(job, context=self.get_serializer_context()).data)
