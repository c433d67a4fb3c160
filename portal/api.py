"""REST API of the portal: requests (submit, approve, reject, cancel), quotas, the audit log."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.response import Response

from audit import log as audit_log
from audit.models import AuditEntry
from portal import quotas, services
from portal.choices import RequestState
from portal.models import Quota, VMRequest
from portal.selectors import visible_entries, visible_requests
from vms.api.vms import VMCreateSerializer
from vms.models import Host


class VMRequestSerializer(serializers.ModelSerializer):
    requester = serializers.CharField(source="requester.username", read_only=True)
    template_name = serializers.CharField(source="template.name", read_only=True)
    # None until decided / placed / provisioned.
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, default=None, allow_null=True)
    host = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    vm = serializers.UUIDField(source="vm.uuid", read_only=True, default=None, allow_null=True)
    vm_id = serializers.IntegerField(read_only=True, allow_null=True)
    vm_state = serializers.CharField(source="vm.state", read_only=True, default=None, allow_null=True)

    class Meta:
        model = VMRequest
        fields = [
            "id",
            "requester",
            "template",
            "template_name",
            "name",
            "vcpus",
            "memory_mib",
            "disk_gib",
            "ssh_keys",
            "run_once",
            "note",
            "host",
            "state",
            "auto_approved",
            "decided_by",
            "decided_at",
            "reason",
            "vm",
            "vm_id",
            "vm_state",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SubmitSerializer(VMCreateSerializer):
    """A new VM's input, plus a note for the admin who decides."""

    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class TooManyRefusals(APIException):
    """429: too many refused submissions in a minute (portal.services.SubmissionThrottled)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "throttled"

    def __init__(self, refused: services.SubmissionThrottled):
        super().__init__(refused.messages[0])
        self.wait = refused.seconds  # DRF's exception handler turns it into Retry-After


def submit_from_api(user, data: dict) -> VMRequest:
    """Used by this API and by POST /api/v1/vms/ for users who are not admins."""
    incoming = SubmitSerializer(data=data)
    incoming.is_valid(raise_exception=True)
    o = incoming.order()
    note = incoming.validated_data["note"]
    try:
        return services.submit_request(
            user,
            o.template,
            o.name,
            o.vcpus,
            o.memory_mib,
            o.disk_gib,
            o.ssh_keys,
            note,
            host=o.host,
            run_once=o.run_once,
        )
    except services.SubmissionThrottled as refused:
        raise TooManyRefusals(refused) from None


class ApproveSerializer(serializers.Serializer):
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all(), required=False, allow_null=True)


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("state", str, enum=RequestState.values, description="only requests in this state")]
    )
)
class VMRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your requests (admins: everyone's); POST submits one, through quota and approval policy."""

    serializer_class = VMRequestSerializer
    queryset = VMRequest.objects.none()  # tells the schema that {id} is an integer; get_queryset decides

    def get_queryset(self):
        qs = visible_requests(self.request.user)
        state = self.request.query_params.get("state")
        if state and self.action == "list":
            if state not in RequestState.values:
                message = _("Unknown request state '%(value)s'; use one of: %(states)s.") % {
                    "value": state,
                    "states": ", ".join(RequestState.values),
                }
                raise APIValidationError({"state": [message]})
            qs = qs.filter(state=state)
        return qs

    @extend_schema(request=SubmitSerializer, responses={201: VMRequestSerializer})
    def create(self, request):
        req = submit_from_api(request.user, request.data)
        return Response(VMRequestSerializer(req).data, status=status.HTTP_201_CREATED)

    def _decide(self, operation):
        req = self.get_object()
        req = operation(req)
        req.refresh_from_db()
        return Response(VMRequestSerializer(req).data)

    @extend_schema(request=ApproveSerializer, responses={200: VMRequestSerializer})
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser])
    def approve(self, request, pk=None):
        incoming = ApproveSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return self._decide(lambda req: services.approve(request.user, req, host=incoming.validated_data.get("host")))

    @extend_schema(request=RejectSerializer, responses={200: VMRequestSerializer})
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser])
    def reject(self, request, pk=None):
        incoming = RejectSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return self._decide(lambda req: services.reject(request.user, req, incoming.validated_data["reason"]))

    @extend_schema(request=None, responses={200: VMRequestSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._decide(lambda req: services.cancel(request.user, req))


class IsAdminOrReadOnly(permissions.BasePermission):
    def has_permission(self, request, view):
        return bool(
            request.user
            and request.user.is_authenticated
            and (request.method in permissions.SAFE_METHODS or request.user.is_staff)
        )


class QuotaSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), required=False, allow_null=True
    )
    group = serializers.SlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Quota
        fields = ["id", "user", "group", "max_vms", "max_vcpus", "max_memory_mib", "max_disk_gib", "updated_at"]
        read_only_fields = ["updated_at"]

    def validate(self, data):
        user = data.get("user", getattr(self.instance, "user", None))
        group = data.get("group", getattr(self.instance, "group", None))
        if (user is None) == (group is None):
            raise serializers.ValidationError("Give exactly one of user or group.")
        return data


class QuotaViewSet(viewsets.ModelViewSet):
    """Admins write; everyone reads the rows that apply to them. GET quotas/me/ says what is left."""

    serializer_class = QuotaSerializer
    permission_classes = [IsAdminOrReadOnly]
    queryset = Quota.objects.none()  # tells the schema that {id} is an integer; get_queryset decides

    def get_queryset(self):
        user = self.request.user
        qs = Quota.objects.select_related("user", "group")
        if user.is_staff:
            return qs
        return qs.filter(user=user) | qs.filter(group__in=user.groups.all())

    def perform_create(self, serializer):
        row = serializer.save()
        audit_log.record(self.request.user, "quota.set", row, **self._limits(row))

    def perform_update(self, serializer):
        row = serializer.save()
        audit_log.record(self.request.user, "quota.set", row, **self._limits(row))

    def perform_destroy(self, instance):
        audit_log.record(self.request.user, "quota.clear", instance)
        instance.delete()

    @staticmethod
    def _limits(row):
        return {f: getattr(row, f) for f in ("max_vms", "max_vcpus", "max_memory_mib", "max_disk_gib")}

    @extend_schema(responses={200: dict})
    @action(detail=False, methods=["get"])
    def me(self, request):
        info = quotas.summary(request.user)
        return Response(
            {
                "unlimited": info["unlimited"],
                "limits": {r["key"]: {"limit": r["limit"], "used": r["used"], "left": r["left"]} for r in info["rows"]},
            }
        )


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True)

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor", "action", "object_type", "object_id", "object_name", "result", "details"]
        read_only_fields = fields


AUDIT_TEXT_FILTERS = {
    "actor": "who did it (username, any case)",
    "action": "what was done, or how it starts (`vm.`, `request.approve`)",
    "object_type": "`vm`, `host`, `template`, `request`, `quota`, ...",
    "object_id": "the object's id",
    "q": "part of the object's name",
}
AUDIT_DATE_FILTERS = {"since": "from this day on (YYYY-MM-DD)", "until": "up to this day (YYYY-MM-DD)"}


def audit_filters(params) -> dict:
    """The audit list's filters, checked: text without control characters (PostgreSQL refuses NUL), real
    dates. A filter that cannot be used is a 400 that says why, never a 500."""
    filters, errors = {}, {}
    for name in AUDIT_TEXT_FILTERS:
        filters[name] = params.get(name, "")
        if any(ord(ch) < 32 for ch in filters[name]):
            errors[name] = [_("Filters cannot contain control characters.")]
    for name in AUDIT_DATE_FILTERS:
        raw = params.get(name, "")
        try:
            filters[name] = parse_date(raw) if raw else None
        except ValueError:  # the right shape, not a day (2024-02-30)
            filters[name] = None
        if raw and filters[name] is None:
            errors[name] = [_("Give a date as YYYY-MM-DD.")]
    if errors:
        raise APIValidationError(errors)
    return filters


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter(name, str, description=text) for name, text in AUDIT_TEXT_FILTERS.items()]
        + [OpenApiParameter(name, OpenApiTypes.DATE, description=text) for name, text in AUDIT_DATE_FILTERS.items()]
    )
)
class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Admins: every entry; others: their own doings and what happened to their VMs and requests.
    Filters: ?actor=, ?action= (prefix), ?object_type=, ?object_id=, ?since=, ?until= (YYYY-MM-DD), ?q=."""

    serializer_class = AuditEntrySerializer

    def get_queryset(self):
        qs = visible_entries(self.request.user)
        if self.action != "list":
            return qs
        return audit_log.filter_entries(qs, **audit_filters(self.request.query_params))
