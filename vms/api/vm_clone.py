"""REST API: clone a VM (POST /api/v1/vms/{id}/clone/). Thin: vms/services/clones.py decides."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api import ConflictSerializer, JobSerializer
from vms.models import Host
from vms.selectors import visible_vms
from vms.services.clones import clone_vm


class CloneSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63, help_text="the new VM's name")
    host = serializers.PrimaryKeyRelatedField(
        queryset=Host.objects.all(), required=False, allow_null=True, help_text="default: placement chooses"
    )
    linked = serializers.BooleanField(required=False, default=False, help_text="not offered: always false")


class ClonedSerializer(serializers.Serializer):
    vm = serializers.IntegerField(help_text="the clone's id (GET /api/v1/vms/{id}/); provisioning until the job ends")
    job = JobSerializer(help_text="the clone job, on the source VM")


class VMCloneView(APIView):
    @extend_schema(
        summary="Clone a VM, stopped or running",
        description=(
            "A new VM, owned by you, with its own name, UUID, MAC addresses and full copies of every disk, "
            "on the same host or another one (its disks travel over the libvirt connections). A running "
            "source keeps running: its disks are copied as they were at one moment, as after a power cut; "
            "a stopped one is copied as it is. The source stays unchanged. For the owner or an admin; it "
            "takes your quota, and a "
            "template whose new VMs need approval refuses it for users who are not admins. 400 names what "
            "is wrong (name taken, no host with room, quota); 409 while another job runs on the VM."
        ),
        request=CloneSerializer,
        responses={
            202: ClonedSerializer,
            409: OpenApiResponse(ConflictSerializer, description="another job is still running on this VM"),
        },
    )
    def post(self, request, pk: int):
        vm = get_object_or_404(visible_vms(request.user).select_related("host", "template", "owner"), pk=pk)
        incoming = CloneSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        clone, job = clone_vm(request.user, vm, data["name"], host=data.get("host"), linked=data["linked"])
        return Response({"vm": clone.pk, "job": JobSerializer(job).data}, status=status.HTTP_202_ACCEPTED)
