"""REST API (DRF). Viewsets stay thin: serializers check shapes, services decide."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from jobs.api import JobSerializer
from portal import audit
from portal.api import VMRequestSerializer, submit_from_api
from portal.services import act_on_vm
from vms.choices import GONE_STATES, VMAction
from vms.models import Host, VirtualMachine, VMTemplate
from vms.selectors import visible_vms
from vms.services import hosts as host_services
from vms.services.vms import VMRequest, create_vm


def as_api_error(exc: DjangoValidationError) -> APIValidationError:
    return APIValidationError(exc.message_dict if hasattr(exc, "message_dict") else {"detail": exc.messages})


class HostSerializer(serializers.ModelSerializer):
    # The stored URI may hold credentials; the API shows the safe form only.
    uri = serializers.CharField(write_only=True)
    display_uri = serializers.CharField(read_only=True)
    require_reachable = serializers.BooleanField(write_only=True, default=True)

    class Meta:
        model = Host
        fields = [
            "id",
            "name",
            "uri",
            "display_uri",
            "enabled",
            "max_concurrent_jobs",
            "emulation",
            "notes",
            "online",
            "last_checked",
            "last_error",
            "capabilities",
            "require_reachable",
        ]
        read_only_fields = ["online", "last_checked", "last_error", "capabilities"]

    def create(self, data):
        try:
            return host_services.add_host(**data)
        except DjangoValidationError as exc:
            raise as_api_error(exc) from None

    def update(self, host, data):
        data.pop("require_reachable", None)
        if "uri" in data or "name" in data:
            try:
                data["uri"] = host_services.validate_host_fields(
                    data.get("name", host.name), data.get("uri", host.uri), exclude_pk=host.pk
                )
            except DjangoValidationError as exc:
                raise as_api_error(exc) from None
        return super().update(host, data)


class HostViewSet(viewsets.ModelViewSet):
    queryset = Host.objects.all()
    serializer_class = HostSerializer
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        """Test the connection; the result is stored as the host's capabilities."""
        result = host_services.check_host(self.get_object())
        return Response({"reachable": result.reachable, "lines": result.lines, "error": result.error})


class VMSerializer(serializers.ModelSerializer):
    host = serializers.SlugRelatedField(slug_field="name", read_only=True)
    template = serializers.SlugRelatedField(slug_field="name", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True, default=None)

    class Meta:
        model = VirtualMachine
        fields = [
            "id",
            "uuid",
            "name",
            "state",
            "host",
            "template",
            "template_version",
            "owner",
            "vcpus",
            "memory_mib",
            "disk_gib",
            "managed",
            "state_changed_at",
            "created_at",
        ]


class VMCreateSerializer(serializers.Serializer):
    template = serializers.PrimaryKeyRelatedField(queryset=VMTemplate.objects.all())
    name = serializers.CharField(max_length=200)
    vcpus = serializers.IntegerField(required=False)
    memory_mib = serializers.IntegerField(required=False)
    disk_gib = serializers.IntegerField(required=False)
    ssh_keys = serializers.ListField(child=serializers.CharField(max_length=16384), required=False, default=list)
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all(), required=False, allow_null=True)


class VMPagination(PageNumberPagination):
    # A fleet has thousands of VMs: never answer with all of them at once.
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class VMViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = VMSerializer
    pagination_class = VMPagination

    def get_queryset(self):
        return visible_vms(self.request.user).order_by("name")

    @extend_schema(request=VMCreateSerializer, responses={202: VMSerializer})
    def create(self, request):
        if not request.user.is_staff:
            # Everyone else goes through the portal's request flow: atomic quota, approval, audit.
            req = submit_from_api(request.user, request.data)
            return Response({"request": VMRequestSerializer(req).data}, status=status.HTTP_202_ACCEPTED)
        incoming = VMCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        template = data["template"]
        req = VMRequest(
            template=template,
            name=data["name"],
            vcpus=data.get("vcpus", template.default_vcpus),
            memory_mib=data.get("memory_mib", template.default_memory_mib),
            disk_gib=data.get("disk_gib", template.default_disk_gib),
            ssh_keys=tuple(data["ssh_keys"]),
            host=data.get("host"),
        )
        try:
            vm, job = create_vm(request.user, req)
        except DjangoValidationError as exc:
            raise as_api_error(exc) from None
        audit.record(request.user, "vm.create", vm, job=job.pk, host=vm.host.name, via="api")
        return Response({**VMSerializer(vm).data, "job": JobSerializer(job).data}, status=status.HTTP_202_ACCEPTED)

    def destroy(self, request, pk=None):
        vm = self.get_object()
        remove = str(request.query_params.get("remove_from_host", "")).lower() in ("1", "true", "yes")
        return self._act(vm, VMAction.DELETE, remove_from_host=remove)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"], url_path=r"actions/(?P<action_name>[a-z-]+)")
    def actions(self, request, pk=None, action_name=None):
        if action_name == VMAction.DELETE or action_name not in VMAction.values:
            raise APIValidationError(
                {
                    "action": f"Unknown action '{action_name}'; use one of "
                    "start, shutdown, reboot, force-off, suspend, resume."
                }
            )
        return self._act(self.get_object(), action_name)

    def _act(self, vm: VirtualMachine, action_name: str, **options) -> Response:
        if vm.state in GONE_STATES:
            raise APIValidationError({"action": "This VM was deleted."})
        try:
            job = act_on_vm(self.request.user, vm, action_name, **options)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        except DjangoValidationError as exc:
            raise as_api_error(exc) from None
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    def get_object(self):
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
