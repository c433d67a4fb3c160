"""API doors for how a VM boots and, for admins, its domain XML: thin, the services decide."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api import ConflictSerializer, JobSerializer
from vms.domainxml.boot import ORDER_DEVICES
from vms.selectors import visible_vms
from vms.services import vm_boot, vm_xml

BUSY = OpenApiResponse(ConflictSerializer, description="another job is still running on this VM")


class BootOrderSerializer(serializers.Serializer):
    order = serializers.ListField(
        child=serializers.ChoiceField(choices=ORDER_DEVICES),
        min_length=1,
        max_length=len(ORDER_DEVICES),
        help_text="boot devices in order, each at most once: hd (disk), cdrom, network (PXE)",
    )
    menu = serializers.BooleanField(default=False, help_text="show the firmware's boot menu at start")


class DomainXMLEditSerializer(serializers.Serializer):
    xml = serializers.CharField(trim_whitespace=False, help_text="the whole domain XML; UUID and name must stay")
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class VMBootView(APIView):
    @extend_schema(
        summary="Change a VM's boot order",
        description=(
            "Set the boot order and boot menu of a BIOS-boot VM in its saved configuration: effective at "
            "the next boot. Anyone who may operate the VM may do it; kernel-boot VMs answer 400. "
            "Answers 202 with the job."
        ),
        request=BootOrderSerializer,
        responses={202: JobSerializer, 409: BUSY},
    )
    def put(self, request, pk: int):
        vm = get_object_or_404(visible_vms(request.user), pk=pk)
        body = BootOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = vm_boot.change_boot_order(request.user, vm, body.validated_data["order"], body.validated_data["menu"])
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class VMDomainXMLView(APIView):
    @extend_schema(
        summary="Replace a VM's domain XML (admins)",
        description=(
            "Admins: apply an edited domain XML to the VM's saved configuration, effective at the next boot. "
            "It must keep the VM's UUID and name and match libvirt's schema (400 otherwise, nothing changed). "
            "Display passwords are kept. Each applied edit is a new version. Answers 202 with the job."
        ),
        request=DomainXMLEditSerializer,
        responses={202: JobSerializer, 409: BUSY},
    )
    def put(self, request, pk: int):
        vm = get_object_or_404(visible_vms(request.user), pk=pk)
        body = DomainXMLEditSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = vm_xml.edit_xml(request.user, vm, body.validated_data["xml"], note=body.validated_data["note"])
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
