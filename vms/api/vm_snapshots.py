"""REST API for a VM's snapshots: list, take, revert, delete. Thin: services/snapshots.py decides."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api import ConflictSerializer, JobSerializer
from vms.models import VirtualMachine, VMSnapshot
from vms.selectors import visible_vms
from vms.services import snapshots as snapshot_services

BUSY = OpenApiResponse(ConflictSerializer, description="another job is still running on this VM")


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = VMSnapshot
        fields = ["name", "description", "parent", "state", "with_memory", "current", "created_at"]
        extra_kwargs = {
            "parent": {"help_text": "the snapshot this one was taken from (empty for a root)"},
            "state": {"help_text": "the VM's state in the snapshot: running or paused (with memory), shutoff"},
            "current": {"help_text": "the snapshot the VM was last taken or reverted to"},
        }


class SnapshotCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


def _vm(request, pk) -> VirtualMachine:
    """The VM if this user may see it (404 otherwise); changing it is the service's decision."""
    return get_object_or_404(visible_vms(request.user), pk=pk)


class VMSnapshotsView(APIView):
    @extend_schema(
        summary="List a VM's snapshots",
        description="Oldest first; `parent` links them into a tree, `current` marks the one the VM is at.",
        responses={200: SnapshotSerializer(many=True)},
    )
    def get(self, request, pk: int):
        vm = _vm(request, pk)
        return Response(SnapshotSerializer(vm.snapshots.order_by("created_at", "name"), many=True).data)

    @extend_schema(
        summary="Take a snapshot of a VM",
        description=(
            "Internal snapshot in the VM's qcow2 disks: with its memory when the VM runs, of the disks "
            "only when it is stopped. 400 when the name is taken or invalid, the VM's snapshot limit is "
            "reached, or a disk is not qcow2 (raw)."
        ),
        request=SnapshotCreateSerializer,
        responses={202: JobSerializer, 409: BUSY},
    )
    def post(self, request, pk: int):
        vm = _vm(request, pk)
        incoming = SnapshotCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        job = snapshot_services.take_snapshot(request.user, vm, data["name"], data["description"])
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _snapshot(vm: VirtualMachine, name: str) -> VMSnapshot:
    snap = VMSnapshot.objects.filter(vm=vm, name=name).first()
    if snap is None:
        raise Http404
    return snap


class VMSnapshotView(APIView):
    @extend_schema(
        summary="Delete a VM's snapshot",
        description="With `children=true`, the snapshots taken from it go too; otherwise they move up a level.",
        parameters=[OpenApiParameter("children", bool, description="also delete the snapshots taken from it")],
        responses={202: JobSerializer, 409: BUSY},
    )
    def delete(self, request, pk: int, name: str):
        vm = _vm(request, pk)
        _snapshot(vm, name)
        children = str(request.query_params.get("children", "")).lower() in ("1", "true", "yes")
        job = snapshot_services.delete_snapshot(request.user, vm, name, children=children)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class VMSnapshotRevertView(APIView):
    @extend_schema(
        summary="Revert a VM to a snapshot",
        description=(
            "The VM's disks (and memory, for a snapshot taken while running) go back to the snapshot; "
            "what was written since is lost. A snapshot taken while running comes back running."
        ),
        request=None,
        responses={202: JobSerializer, 409: BUSY},
    )
    def post(self, request, pk: int, name: str):
        vm = _vm(request, pk)
        _snapshot(vm, name)
        job = snapshot_services.revert_to_snapshot(request.user, vm, name)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
