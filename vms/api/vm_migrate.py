"""REST API: move a VM to another host (POST /api/v1/vms/{id}/migrate/). Thin: vms/services/moves.py decides."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api import ConflictSerializer, JobSerializer
from vms.models import Host
from vms.selectors import visible_vms
from vms.services.moves import move_vm


class MigrateSerializer(serializers.Serializer):
    host = serializers.PrimaryKeyRelatedField(
        queryset=Host.objects.all(), required=False, allow_null=True, help_text="default: placement chooses"
    )
    live = serializers.BooleanField(
        required=False, default=True, help_text="a running VM moves live; false refuses to move a running VM"
    )


class VMMigrateView(APIView):
    @extend_schema(
        summary="Move a VM to another host",
        description=(
            "Admins only. A running VM moves live: its memory and disks are copied while it runs and it "
            "pauses for a fraction of a second at the switch; a stopped VM moves offline (its disks are "
            "copied, it is defined on the new host and removed from the old one). No shared storage is "
            "needed. The host is the one given, or the one placement chooses among the others. Follow the "
            "job with GET /api/v1/jobs/{id}/; POST /api/v1/jobs/{id}/cancel/ stops a live move, and the VM "
            "keeps running where it was. 400 names what is wrong (no host with room, the same host, a name "
            "the host already has); 409 while another job runs on the VM."
        ),
        request=MigrateSerializer,
        responses={
            202: JobSerializer,
            409: OpenApiResponse(ConflictSerializer, description="another job is still running on this VM"),
        },
    )
    def post(self, request, pk: int):
        vm = get_object_or_404(visible_vms(request.user).select_related("host", "template", "owner"), pk=pk)
        incoming = MigrateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        job = move_vm(request.user, vm, host=data.get("host"), live=data["live"])
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
