"""REST API: save a VM as a template (POST /api/v1/vms/{id}/save-as-template/). Thin: the service decides."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api import ConflictSerializer, JobSerializer
from vms.selectors import visible_vms
from vms.services.save_template import save_as_template


class SaveAsTemplateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="the new template's and base image's name")


class VMSaveAsTemplateView(APIView):
    @extend_schema(
        summary="Save a stopped VM as a template",
        description=(
            "Admins only. The VM's system disk becomes a base image in the image library (copied with "
            "progress, checked like an upload, ready on the VM's host at once; copy it to other hosts from "
            "the Images page), and a new template is made from the VM's domain XML with the per-instance "
            "parts stripped, its disk an overlay on that image. The VM must be stopped and stays as it is. "
            "400 names what is wrong (the name is taken, no disk); 409 while another job runs on the VM."
        ),
        request=SaveAsTemplateSerializer,
        responses={
            202: JobSerializer,
            409: OpenApiResponse(ConflictSerializer, description="another job is still running on this VM"),
        },
    )
    def post(self, request, pk: int):
        vm = get_object_or_404(visible_vms(request.user).select_related("host", "template", "owner"), pk=pk)
        incoming = SaveAsTemplateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        job = save_as_template(request.user, vm, incoming.validated_data["name"])
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
