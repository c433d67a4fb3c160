"""REST API (DRF). Viewsets stay thin: serializers check shapes, services decide."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.response import Response

from audit import log as audit_log
from jobs.api import ConflictSerializer, JobSerializer
from jobs.api_pagination import StandardPagination
from vms import extensions
from vms.choices import GONE_STATES, VMAction
from vms.domainxml.boot import boot_summary
from vms.models import Host, VirtualMachine, VMTemplate
from vms.selectors import visible_vms
from vms.services import disks as disk_services
from vms.services import hosts as host_services
from vms.services import maintenance, ssh_trust
from vms.services.actions import act_on_vm
from vms.services.interfaces import interfaces_of, seen_addresses_many
from vms.services.vm_update import update_vm
from vms.services.vms import VMOrder, create_vm


class HostSerializer(serializers.ModelSerializer):
    # The stored URI may hold credentials; the API shows the safe form only.
    uri = serializers.CharField(write_only=True)
    display_uri = serializers.CharField(read_only=True)
    require_reachable = serializers.BooleanField(write_only=True, default=True)
    max_concurrent_jobs = serializers.IntegerField(min_value=1, max_value=64, required=False)
    ssh_host_key_fingerprint = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text=(
            "SSH hosts: the fingerprint (SHA256:...) of the confirmed, pinned host key; empty otherwise. "
            "When adding an SSH host, give the fingerprint you compared with the host's own: that key is pinned. "
            "Ignored when changing a host (use trust-host-key)."
        ),
    )
    ssh_offered_host_key_fingerprint = serializers.CharField(
        source="ssh_offered_fingerprint",
        read_only=True,
        help_text="SSH hosts: a key the host offers that nobody confirmed yet (confirm it with trust-host-key)",
    )

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
            "maintenance",
            "last_checked",
            "last_error",
            "capabilities",
            "require_reachable",
            "ssh_host_key_fingerprint",
            "ssh_offered_host_key_fingerprint",
        ]
        read_only_fields = ["online", "maintenance", "last_checked", "last_error", "capabilities"]

    def create(self, data):
        fingerprint = data.pop("ssh_host_key_fingerprint", "")
        return host_services.add_host(**data, ssh_fingerprint=fingerprint, actor=self.context["request"].user)

    def update(self, host, data):
        data.pop("require_reachable", None)
        data.pop("ssh_host_key_fingerprint", None)  # a new key is confirmed with trust-host-key
        return host_services.update_host(host, self.context["request"].user, **data)


class HostCheckSerializer(serializers.Serializer):
    reachable = serializers.BooleanField()
    lines = serializers.ListField(child=serializers.CharField(), help_text="what the host offers, in words")
    error = serializers.CharField(help_text="why it could not be reached (empty when reachable)")
    offered_fingerprint = serializers.CharField(
        help_text="SSH hosts: the host key offered and not confirmed yet (empty when none waits)"
    )


class TrustHostKeySerializer(serializers.Serializer):
    fingerprint = serializers.CharField(
        max_length=100,
        help_text="the fingerprint you saw and compared (SHA256:...); refused if the host offers another",
    )


class SshPublicKeySerializer(serializers.Serializer):
    public_key = serializers.CharField(help_text="this dashboard's SSH public key")
    authorized_keys_line = serializers.CharField(help_text="the line to add to ~root/.ssh/authorized_keys on a host")


class HostViewSet(viewsets.ModelViewSet):
    queryset = Host.objects.all()
    serializer_class = HostSerializer
    permission_classes = [permissions.IsAdminUser]

    def perform_destroy(self, instance):
        host_services.delete_host(instance, self.request.user)  # audited

    @extend_schema(request=None, responses={200: HostCheckSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        """Test the connection; the result is stored as the host's capabilities."""
        result = host_services.check_host(self.get_object(), actor=request.user)
        return Response(
            {
                "reachable": result.reachable,
                "lines": result.lines,
                "error": result.error,
                "offered_fingerprint": result.offered_fingerprint,
            }
        )

    @extend_schema(request=TrustHostKeySerializer, responses={200: HostSerializer})
    @action(detail=True, methods=["post"], url_path="trust-host-key")
    def trust_host_key(self, request, pk=None):
        """Pin the SSH host key the host offers now, whose fingerprint you compared. Audited."""
        host = self.get_object()
        body = TrustHostKeySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ssh_trust.trust_host_key(host, body.validated_data["fingerprint"], request.user)
        host.refresh_from_db()
        return Response(HostSerializer(host, context=self.get_serializer_context()).data)

    @extend_schema(
        methods=["POST"],
        request=None,
        responses={202: JobSerializer, 409: OpenApiResponse(ConflictSerializer, description="already under way")},
        summary="Put a host in maintenance: move every VM off it",
        description=(
            "The host leaves placement at once, and a job (`host.maintenance`) moves each of its VMs to the "
            "host placement chooses among the others: live for running VMs, offline for stopped ones, one "
            "`vm.migrate` child job per VM. VMs that cannot move (no host with room, paused, not managed "
            "here) are named in the job's error and keep running. Follow it with GET /api/v1/jobs/{id}/."
        ),
    )
    @extend_schema(
        methods=["DELETE"],
        request=None,
        responses={200: HostSerializer, 409: OpenApiResponse(ConflictSerializer, description="the job still runs")},
        summary="Take a host out of maintenance",
        description="The host takes new VMs again. Refused (409) while its maintenance job runs: cancel it first.",
    )
    @action(detail=True, methods=["post", "delete"])
    def maintenance(self, request, pk=None):
        host = self.get_object()
        if request.method == "POST":
            job = maintenance.enter_maintenance(request.user, host)
            return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        maintenance.leave_maintenance(request.user, host)
        return Response(HostSerializer(host, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: SshPublicKeySerializer})
    @action(detail=False, methods=["get"], url_path="ssh-public-key")
    def ssh_public_key(self, request):
        """What to add to a host so this dashboard may log in over SSH."""
        line = ssh_trust.public_key_line()
        if not line:
            raise APIValidationError({"detail": [_("This server has no SSH key; the log says why.")]})
        return Response({"public_key": line, "authorized_keys_line": line})


class VMInterfaceSerializer(serializers.Serializer):
    """One network interface of a VM (vms.services.interfaces.interfaces_of)."""

    mac = serializers.CharField()
    type = serializers.CharField(help_text="network, bridge, user, ...")
    source = serializers.CharField(help_text="the libvirt network or host bridge it joins")
    model = serializers.CharField(help_text="virtio, e1000, rtl8139, ...")
    link = serializers.ChoiceField(choices=["up", "down"])
    addresses = serializers.ListField(child=serializers.CharField(), help_text="IP addresses the host saw")


class VMListSerializer(serializers.ListSerializer):
    """A list of VMs reads what lives outside their rows once for the whole page: the addresses their
    hosts saw (Redis) and the ISOs in their drives, not once per VM."""

    def to_representation(self, data):
        vms = list(data.all() if hasattr(data, "all") else data)
        self.child.prefetched = {"seen": seen_addresses_many(vms), "isos": disk_services.isos_in_drives(vms)}
        return super().to_representation(vms)


class VMSerializer(serializers.ModelSerializer):
    # Set by VMListSerializer for a page of VMs; None: one VM, read as it is shown.
    prefetched: dict | None = None

    # None: a VM not placed yet, made from a template since deleted, or discovered on a host (no owner).
    host = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    moving_to = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    template = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    owner = serializers.CharField(source="owner.username", read_only=True, default=None, allow_null=True)
    interfaces = serializers.SerializerMethodField(
        help_text="network interfaces: {mac, type, source, model, link, addresses} (addresses: as last seen)"
    )
    addresses = serializers.SerializerMethodField(
        help_text="IP addresses by interface (MAC), as the host last saw them"
    )
    boot_order = serializers.SerializerMethodField(
        help_text="BIOS boot: {mode: bios, order: [hd|cdrom|network], menu}; kernel boot: {mode: kernel, "
        "kernel, initrd, cmdline}; null before the VM has a saved configuration"
    )
    disks = serializers.SerializerMethodField(help_text="{target, bus, device, size_gib, format, volume} per disk")
    cdrom = serializers.SerializerMethodField(help_text="{target, image (an image id or null)}; null without a drive")
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = VirtualMachine
        list_serializer_class = VMListSerializer
        fields = [
            "id",
            "uuid",
            "name",
            "state",
            "host",
            "moving_to",
            "template",
            "template_version",
            "owner",
            "vcpus",
            "memory_mib",
            "disk_gib",
            "managed",
            "run_once",
            "state_changed_at",
            "created_at",
            "autostart",
            "tags",
            "notes",
            "interfaces",
            "addresses",
            "boot_order",
            "disks",
            "cdrom",
        ]
        read_only_fields = [
            "autostart",
            "run_once",
            "notes",
            "moving_to",
        ]  # changed through PATCH (vms.services.vm_update)

    def _nics(self, vm: VirtualMachine) -> list[dict]:
        cache = self.__dict__.setdefault("_nics_cache", {})
        if vm.pk not in cache:
            seen = None if self.prefetched is None else self.prefetched["seen"].get(vm.uuid, {})
            cache[vm.pk] = interfaces_of(vm, seen)
        return cache[vm.pk]

    @extend_schema_field(VMInterfaceSerializer(many=True))
    def get_interfaces(self, vm: VirtualMachine) -> list[dict]:
        return self._nics(vm)

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}})
    def get_addresses(self, vm: VirtualMachine) -> dict[str, list[str]]:
        return {nic["mac"]: nic["addresses"] for nic in self._nics(vm)}

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_boot_order(self, vm: VirtualMachine) -> dict | None:
        summary = boot_summary(vm.domain_xml)
        return None if summary is None else summary.as_dict()

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "target": {"type": "string"},
                    "bus": {"type": "string"},
                    "device": {"type": "string"},
                    "size_gib": {"type": "integer", "nullable": True},
                    "format": {"type": "string"},
                    "volume": {"type": "string"},
                },
            },
        }
    )
    def get_disks(self, vm) -> list:
        return disk_services.disk_rows(vm)

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"target": {"type": "string"}, "image": {"type": "integer", "nullable": True}},
        }
    )
    def get_cdrom(self, vm):
        return disk_services.api_cdrom(vm, None if self.prefetched is None else self.prefetched["isos"])


class VMUpdateSerializer(serializers.Serializer):
    """PATCH /api/v1/vms/{id}/: any of these; vms.services.vm_update checks them (400 names each bad one)."""

    vcpus = serializers.IntegerField(required=False, help_text="within the template's maximum and your quota")
    memory_mib = serializers.IntegerField(required=False, help_text="within the template's maximum and your quota")
    autostart = serializers.BooleanField(required=False, help_text="start with the host (not for run-once VMs)")
    name = serializers.CharField(required=False, help_text="a new name; the VM must be stopped")
    notes = serializers.CharField(required=False, allow_blank=True, help_text="free text, saved at once")
    tags = serializers.ListField(child=serializers.CharField(), required=False, help_text="short words, saved at once")


class VMCreateSerializer(serializers.Serializer):
    """The input of a new VM, for both doors: POST /api/v1/vms/ and the portal's POST /api/v1/requests/."""

    template = serializers.PrimaryKeyRelatedField(queryset=VMTemplate.objects.all())
    name = serializers.CharField(max_length=200)
    vcpus = serializers.IntegerField(required=False, help_text="default: the template's")
    memory_mib = serializers.IntegerField(required=False, help_text="default: the template's")
    disk_gib = serializers.IntegerField(required=False, help_text="default: the template's")
    ssh_keys = serializers.ListField(child=serializers.CharField(max_length=16384), required=False, default=list)
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all(), required=False, allow_null=True)
    run_once = serializers.BooleanField(
        required=False,
        default=False,
        help_text="create the domain transient (virsh create): gone from its host, and deleted here, "
        "when it powers off; no snapshots, rename, autostart, boot order or XML edits",
    )

    def order(self) -> VMOrder:
        """The validated input as an order, the template's defaults filling what was not given."""
        d = self.validated_data
        return VMOrder.with_defaults(
            d["template"],
            d["name"],
            vcpus=d.get("vcpus"),
            memory_mib=d.get("memory_mib"),
            disk_gib=d.get("disk_gib"),
            ssh_keys=d["ssh_keys"],
            host=d.get("host"),
            run_once=d["run_once"],
        )


class VMWithJobSerializer(VMSerializer):
    job = JobSerializer(help_text="the provisioning job")

    class Meta(VMSerializer.Meta):
        fields = [*VMSerializer.Meta.fields, "job"]


class RequestSubmittedSerializer(serializers.Serializer):
    request = serializers.DictField(help_text="the VM request, as GET /api/v1/requests/{id}/ shows it")


# An admin's POST vms/ makes the VM at once; anyone else's becomes a request (quota, approval).
VM_CREATED = PolymorphicProxySerializer(
    component_name="VMCreated",
    serializers=[VMWithJobSerializer, RequestSubmittedSerializer],
    resource_type_field_name=None,
)
ACTIONS = [a for a in VMAction.values if a != VMAction.DELETE]
BUSY = OpenApiResponse(ConflictSerializer, description="another job is still running on this VM")


class VMViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = VMSerializer
    pagination_class = StandardPagination  # a fleet has thousands of VMs: never all of them at once

    def get_queryset(self):
        return (
            visible_vms(self.request.user)
            .order_by("name")
            .select_related("host", "moving_to", "template", "owner")
            .prefetch_related("tags")
        )

    @extend_schema(request=VMCreateSerializer, responses={202: VM_CREATED})
    def create(self, request):
        if not request.user.is_staff:
            # Everyone else goes through what the portal registered (a request: quota, approval, audit).
            if extensions.create_for_non_staff is None:
                raise PermissionDenied(_("Only admins create VMs directly."))
            return Response(
                extensions.create_for_non_staff(request.user, request.data), status=status.HTTP_202_ACCEPTED
            )
        incoming = VMCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        vm, job = create_vm(request.user, incoming.order())
        audit_log.record(request.user, "vm.create", vm, job=job.pk, host=vm.host.name, via="api")
        return Response({**VMSerializer(vm).data, "job": JobSerializer(job).data}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Change a VM: vCPUs, memory, name, autostart, notes, tags",
        description=(
            "Notes and tags are saved at once (200 with the VM). vCPUs, memory, name and autostart change "
            "the VM on its host through one job (202 with the job; follow it at /api/v1/jobs/{id}/). A running "
            "VM's size changes live up to its template's maximum for live resize, otherwise at its next boot "
            "(the job's log says which). Bad input, a size above the template's maximum or your quota: 400, "
            "nothing changed. A VM with a job still running: 409."
        ),
        request=VMUpdateSerializer,
        responses={200: VMSerializer, 202: JobSerializer, 409: BUSY},
    )
    def partial_update(self, request, pk=None):
        vm = self.get_object()
        if not isinstance(request.data, dict):
            raise APIValidationError({"non_field_errors": [_("Send a JSON object.")]})
        job = update_vm(request.user, vm, dict(request.data.items()))  # refusals: dashboard.api's handler
        if job is not None:
            return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        return Response(VMSerializer(vm, context=self.get_serializer_context()).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("remove_from_host", bool, description="admins: also undefine a discovered VM on its host")
        ],
        responses={202: JobSerializer, 409: BUSY},
    )
    def destroy(self, request, pk=None):
        vm = self.get_object()
        remove = str(request.query_params.get("remove_from_host", "")).lower() in ("1", "true", "yes")
        return self._act(vm, VMAction.DELETE, remove_from_host=remove)

    @extend_schema(
        description=(
            "Run one lifecycle action on the VM as a job (202 with the job; follow it at /api/v1/jobs/{id}/). "
            "`action_name` is one of: `start` (boot a stopped VM), `shutdown` (ask the guest to power off, "
            "ACPI), `reboot` (ask the guest to restart), `force-off` (pull the plug: unsaved guest data is "
            "lost), `suspend` (pause the running VM in memory), `resume` (continue a paused VM). "
            "Deleting is `DELETE /api/v1/vms/{id}/`. A VM with a job still running answers 409."
        ),
        parameters=[OpenApiParameter("action_name", str, OpenApiParameter.PATH, enum=ACTIONS)],
        request=None,
        responses={202: JobSerializer, 409: BUSY},
    )
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
        job = act_on_vm(self.request.user, vm, action_name, **options)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
