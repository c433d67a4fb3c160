"""REST API of the portal: requests (submit, approve, reject, cancel), quotas, the audit log."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_date
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.response import Response

from portal import audit, quotas, services
from portal.models import AuditEntry, Quota, VMRequest
from portal.selectors import visible_requests
from vms.models import Host, VMTemplate


def api_error(exc: DjangoValidationError) -> APIValidationError:
    return APIValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


class VMRequestSerializer(serializers.ModelSerializer):
    requester = serializers.CharField(source="requester.username", read_only=True)
    template_name = serializers.CharField(source="template.name", read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, default=None)
    host = serializers.SlugRelatedField(slug_field="name", read_only=True)
    vm = serializers.UUIDField(source="vm.uuid", read_only=True, default=None)
    vm_id = serializers.IntegerField(read_only=True)
    vm_state = serializers.CharField(source="vm.state", read_only=True, default=None)

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


class SubmitSerializer(serializers.Serializer):
    template = serializers.PrimaryKeyRelatedField(queryset=VMTemplate.objects.all())
    name = serializers.CharField(max_length=200)
    vcpus = serializers.IntegerField(required=False)
    memory_mib = serializers.IntegerField(required=False)
    disk_gib = serializers.IntegerField(required=False)
    ssh_keys = serializers.ListField(child=serializers.CharField(max_length=16384), required=False, default=list)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all(), required=False, allow_null=True)


def submit_from_api(user, data: dict) -> VMRequest:
    """Used by this API and by POST /api/v1/vms/ for users who are not admins."""
    incoming = SubmitSerializer(data=data)
    incoming.is_valid(raise_exception=True)
    d = incoming.validated_data
    template = d["template"]
    try:
        return services.submit_request(
            user,
            template,
            d["name"],
            d.get("vcpus", template.default_vcpus),
            d.get("memory_mib", template.default_memory_mib),
            d.get("disk_gib", template.default_disk_gib),
            d["ssh_keys"],
            d["note"],
            host=d.get("host"),
        )
    except DjangoValidationError as exc:
        raise api_error(exc) from None
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from None


class ApproveSerializer(serializers.Serializer):
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all(), required=False, allow_null=True)


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class VMRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your requests (admins: everyone's); POST submits one, through quota and approval policy."""

    serializer_class = VMRequestSerializer

    def get_queryset(self):
        qs = visible_requests(self.request.user)
        state = self.request.query_params.get("state")
        if state:
            qs = qs.filter(state=state)
        return qs

    @extend_schema(request=SubmitSerializer, responses={201: VMRequestSerializer})
    def create(self, request):
        req = submit_from_api(request.user, request.data)
        return Response(VMRequestSerializer(req).data, status=status.HTTP_201_CREATED)

    def _decide(self, operation):
        req = self.get_object()
        try:
            req = operation(req)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        except DjangoValidationError as exc:
            raise api_error(exc) from None
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

    def get_queryset(self):
        user = self.request.user
        qs = Quota.objects.select_related("user", "group")
        if user.is_staff:
            return qs
        return qs.filter(user=user) | qs.filter(group__in=user.groups.all())

    def perform_create(self, serializer):
        row = serializer.save()
        audit.record(self.request.user, "quota.set", row, **self._limits(row))

    def perform_update(self, serializer):
        row = serializer.save()
        audit.record(self.request.user, "quota.set", row, **self._limits(row))

    def perform_destroy(self, instance):
        audit.record(self.request.user, "quota.clear", instance)
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


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Admins: every entry; others: their own doings and what happened to their VMs and requests.
    Filters: ?actor=, ?action= (prefix), ?object_type=, ?object_id=, ?since=, ?until= (YYYY-MM-DD), ?q=."""

    serializer_class = AuditEntrySerializer

    def get_queryset(self):
        p = self.request.query_params
        return audit.filter_entries(
            audit.visible_entries(self.request.user),
            actor=p.get("actor", ""),
            action=p.get("action", ""),
            object_type=p.get("object_type", ""),
            object_id=p.get("object_id", ""),
            since=parse_date(p.get("since", "") or "") if p.get("since") else None,
            until=parse_date(p.get("until", "") or "") if p.get("until") else None,
            q=p.get("q", ""),
        )
