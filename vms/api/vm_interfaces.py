"""REST API of a VM's network interfaces: list, add, remove, link up or down.

Thin: the serializers check shapes, vms.services.interfaces decides (where a NIC may go, models, MACs,
permission, state, one job per VM). Changes answer 202 with the job; bad input 400 with nothing
changed; a VM with a job running 409 (dashboard/api.py maps the service's exceptions).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api import ConflictSerializer, JobSerializer
from vms.api.vms import VMInterfaceSerializer
from vms.hypervisor.nics import MODELS
from vms.selectors import visible_vms
from vms.services import interfaces as nic_services

BUSY = OpenApiResponse(ConflictSerializer, description="another job is still running on this VM")


class InterfaceCreateSerializer(serializers.Serializer):
    network = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="a libvirt network of the VM's host"
    )
    bridge = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="or a bridge of the VM's host"
    )
    model = serializers.CharField(required=False, default="virtio", help_text=f"one of {', '.join(MODELS)}")
    mac = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="optional; default: a free one in 52:54:00:xx:xx:xx"
    )


class LinkSerializer(serializers.Serializer):
    up = serializers.BooleanField(help_text="true: link up; false: link down (the guest sees the cable pulled)")


def _vm(request, pk: int):
    return get_object_or_404(visible_vms(request.user), pk=pk)


def _accepted(job) -> Response:
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class VMInterfacesView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="A VM's network interfaces with their IP addresses", responses={200: VMInterfaceSerializer(many=True)}
    )
    def get(self, request, pk: int):
        return Response(VMInterfaceSerializer(nic_services.interfaces_of(_vm(request, pk)), many=True).data)

    @extend_schema(
        summary="Add a network interface on one of the host's networks or bridges (a job)",
        request=InterfaceCreateSerializer,
        responses={202: JobSerializer, 409: BUSY},
    )
    def post(self, request, pk: int):
        vm = _vm(request, pk)
        incoming = InterfaceCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return _accepted(nic_services.add_interface(request.user, vm, **incoming.validated_data))


class VMInterfaceView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Remove a network interface by its MAC address (a job)",
        request=None,
        responses={202: JobSerializer, 409: BUSY},
    )
    def delete(self, request, pk: int, mac: str):
        return _accepted(nic_services.remove_interface(request.user, _vm(request, pk), mac))


class VMInterfaceLinkView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Set a network interface's link up or down (a job)",
        request=LinkSerializer,
        responses={202: JobSerializer, 409: BUSY},
    )
    def post(self, request, pk: int, mac: str):
        vm = _vm(request, pk)
        incoming = LinkSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return _accepted(nic_services.set_link(request.user, vm, mac, incoming.validated_data["up"]))
