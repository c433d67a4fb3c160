"""REST API for hosts' storage (admins): pools, one pool's volumes with their owners, deleting a volume.

Thin like the pages: serializers check shapes, vms.services.storage decides. The pool list is the host's
stored facts; the volume list is read from the host on each request, within the service's deadline.
A host that refuses or does not answer is a 409 with `code` "host_error" and the sentence (the request
may work later); a volume someone owns is a 409 with `code` "in_use", and nothing is deleted.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from vms.choices import VolumeOwner
from vms.models import Host
from vms.services import storage as storage_services


class PoolSerializer(serializers.Serializer):
    name = serializers.CharField()
    active = serializers.BooleanField()
    path = serializers.CharField(help_text="the pool's directory on the host ('' when not reported)")
    capacity = serializers.IntegerField(allow_null=True, help_text="bytes (null for an inactive pool)")
    allocation = serializers.IntegerField(allow_null=True, help_text="bytes in use on the host")
    available = serializers.IntegerField(allow_null=True, help_text="bytes free")
    reserved_gib = serializers.IntegerField(help_text="the disk sizes of our VMs in this pool, in GiB")


class PoolCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64, help_text="letters, digits, '.', '-', '_'")
    path = serializers.CharField(max_length=4096, trim_whitespace=False, help_text="an absolute directory on the host")


class OwnerSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=VolumeOwner.choices)
    name = serializers.CharField(help_text="the VM's or the image's name ('' for nobody)")
    vm = serializers.IntegerField(allow_null=True, help_text="the VM's id, for a VM or a discovered VM")


class VolumeSerializer(serializers.Serializer):
    name = serializers.CharField()
    path = serializers.CharField()
    capacity = serializers.IntegerField(help_text="bytes")
    allocation = serializers.IntegerField(help_text="bytes on disk")
    format = serializers.CharField()
    owner = OwnerSerializer()


class RefusalSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=["host_error", "in_use"])


HOST_ERROR = OpenApiResponse(RefusalSerializer, description="the host refused or did not answer (code host_error)")


def _host_error(exc: storage_services.StorageError) -> Response:
    return Response({"detail": str(exc), "code": "host_error"}, status=status.HTTP_409_CONFLICT)


def _pool_data(pool: storage_services.PoolRow) -> dict:
    return {
        "name": pool.name,
        "active": pool.active,
        "path": pool.path,
        "capacity": pool.capacity,
        "allocation": pool.allocation,
        "available": pool.available,
        "reserved_gib": pool.reserved_gib,
    }


def _volume_data(vol: storage_services.Volume) -> dict:
    return {
        "name": vol.name,
        "path": vol.path,
        "capacity": vol.capacity,
        "allocation": vol.allocation,
        "format": vol.format,
        "owner": {"kind": vol.owner, "name": vol.owner_name, "vm": vol.owner_vm.pk if vol.owner_vm else None},
    }


class HostPoolsView(APIView):
    """GET hosts/{id}/pools/ (as last reported by the host), POST a new directory pool."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(responses={200: PoolSerializer(many=True)})
    def get(self, request, pk: int):
        host = get_object_or_404(Host, pk=pk)
        return Response([_pool_data(p) for p in storage_services.host_pools(host)])

    @extend_schema(request=PoolCreateSerializer, responses={201: PoolSerializer, 409: HOST_ERROR})
    def post(self, request, pk: int):
        host = get_object_or_404(Host, pk=pk)
        incoming = PoolCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            pool = storage_services.define_pool(
                host, incoming.validated_data["name"], incoming.validated_data["path"], request.user
            )
        except storage_services.StorageError as exc:
            return _host_error(exc)
        return Response(_pool_data(pool), status=status.HTTP_201_CREATED)


class PoolVolumesView(APIView):
    """GET hosts/{id}/pools/{name}/volumes/: read from the host now, each volume with its owner."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(responses={200: VolumeSerializer(many=True), 409: HOST_ERROR})
    def get(self, request, pk: int, name: str):
        host = get_object_or_404(Host, pk=pk)
        if storage_services.stored_pool(host, name) is None:
            return Response({"detail": _("Not found.")}, status=status.HTTP_404_NOT_FOUND)
        try:
            volumes = storage_services.pool_volumes(host, name)
        except storage_services.StorageError as exc:
            return _host_error(exc)
        return Response([_volume_data(v) for v in volumes])


class PoolVolumeView(APIView):
    """DELETE hosts/{id}/pools/{name}/volumes/{volume}/: only a volume that nobody owns."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(
                RefusalSerializer, description="someone owns the volume (in_use), or the host refused (host_error)"
            ),
        }
    )
    def delete(self, request, pk: int, name: str, volume: str):
        host = get_object_or_404(Host, pk=pk)
        if storage_services.stored_pool(host, name) is None:
            return Response({"detail": _("Not found.")}, status=status.HTTP_404_NOT_FOUND)
        try:
            storage_services.delete_volume(host, name, volume, request.user)
        except LookupError as exc:
            return Response({"detail": str(exc.args[0])}, status=status.HTTP_404_NOT_FOUND)
        except storage_services.VolumeInUse as exc:
            return Response({"detail": str(exc), "code": "in_use"}, status=status.HTTP_409_CONFLICT)
        except storage_services.StorageError as exc:
            return _host_error(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)
