"""REST API for a VM's disks and CD-ROM (thin: vms/services/disks.py decides; each change is a job, 202)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api import ConflictSerializer, JobSerializer
from vms.selectors import visible_vms
from vms.services import disks as disk_services

BUSY = OpenApiResponse(ConflictSerializer, description="another job is still running on this VM")
ACCEPTED = {202: JobSerializer, 409: BUSY}


class DiskAddSerializer(serializers.Serializer):
    size_gib = serializers.JSONField(help_text="whole GiB, 1 up to the template's maximum disk size")
    bus = serializers.CharField(help_text="virtio, scsi or sata")


class DiskResizeSerializer(serializers.Serializer):
    size_gib = serializers.JSONField(help_text="the new size in whole GiB: more than the disk has now")


class CDROMInsertSerializer(serializers.Serializer):
    image = serializers.JSONField(help_text="the id of a published ISO in the image library")


def _vm(request, pk):
    return get_object_or_404(visible_vms(request.user).select_related("host", "template", "owner"), pk=pk)


def _accepted(job) -> Response:
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _body(serializer_class, request) -> dict:
    incoming = serializer_class(data=request.data)
    incoming.is_valid(raise_exception=True)
    return incoming.validated_data


class VMDisksView(APIView):
    @extend_schema(
        summary="Add a data disk to a VM",
        description="A new volume in the VM's pool, attached live when the VM runs; counted against disk quota.",
        request=DiskAddSerializer,
        responses=ACCEPTED,
    )
    def post(self, request, pk: int):
        data = _body(DiskAddSerializer, request)
        return _accepted(disk_services.add_disk(request.user, _vm(request, pk), data["size_gib"], data["bus"]))


def _flag(value: str | None) -> bool:
    text = str(value if value is not None else "false").lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise APIValidationError({"delete_volume": ["Use true or false."]})
    return text in ("true", "1", "yes")


class VMDiskView(APIView):
    @extend_schema(
        summary="Detach a disk from a VM",
        description="Detach the disk; `delete_volume=true` deletes its volume, otherwise it is kept until the "
        "VM is deleted. The system disk is not detached.",
        parameters=[OpenApiParameter("delete_volume", bool, description="delete the volume (default: keep it)")],
        request=None,
        responses=ACCEPTED,
    )
    def delete(self, request, pk: int, target: str):
        delete = _flag(request.query_params.get("delete_volume"))
        return _accepted(disk_services.detach_disk(request.user, _vm(request, pk), target, delete))


class VMDiskResizeView(APIView):
    @extend_schema(
        summary="Grow a disk of a VM",
        description="Grow (never shrink) the disk; a running VM's disk grows live.",
        request=DiskResizeSerializer,
        responses=ACCEPTED,
    )
    def post(self, request, pk: int, target: str):
        data = _body(DiskResizeSerializer, request)
        return _accepted(disk_services.resize_disk(request.user, _vm(request, pk), target, data["size_gib"]))


class VMCDROMView(APIView):
    @extend_schema(
        summary="Insert an ISO into a VM's CD-ROM drive",
        description="The job copies the ISO to the VM's host first when it is not there yet.",
        request=CDROMInsertSerializer,
        responses=ACCEPTED,
    )
    def post(self, request, pk: int):
        data = _body(CDROMInsertSerializer, request)
        return _accepted(disk_services.insert_iso(request.user, _vm(request, pk), data["image"]))

    @extend_schema(summary="Eject the ISO from a VM's CD-ROM drive", request=None, responses=ACCEPTED)
    def delete(self, request, pk: int):
        return _accepted(disk_services.eject_iso(request.user, _vm(request, pk)))
