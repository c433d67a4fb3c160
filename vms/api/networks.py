"""REST API for libvirt networks on hosts (admins). Thin: serializers check shapes, services/networks.py decides.

A network's id is its HostNetwork row: one per host and network name, kept by the service as hosts report
their networks, so /networks/{id}/ always means one network on one host.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from vms.models import Host, HostNetwork
from vms.services import networks as network_services


class NetworkSerializer(serializers.Serializer):
    """One network on one host, from the host's stored facts."""

    id = serializers.IntegerField(source="pk")
    host = serializers.IntegerField(source="row.host_id")
    host_name = serializers.CharField(source="row.host.name")
    name = serializers.CharField(source="row.name")
    active = serializers.BooleanField()
    autostart = serializers.BooleanField()
    persistent = serializers.BooleanField()
    forward = serializers.CharField(help_text="libvirt's forward mode: nat, route, bridge...; empty: isolated")
    bridge = serializers.CharField(help_text="the host bridge it uses (empty when none)")
    subnet = serializers.CharField(help_text="IPv4 CIDR (empty when none)")
    dhcp = serializers.CharField(help_text="DHCP range 'start-end' (empty when none)")
    vms = serializers.ListField(child=serializers.CharField(), help_text="names of our VMs on the host using it")


class NetworkCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    hosts = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all(), many=True, allow_empty=False)
    mode = serializers.ChoiceField(choices=list(network_services.MODES))
    bridge = serializers.CharField(max_length=15, required=False, allow_blank=True, default="")
    subnet = serializers.CharField(max_length=43, required=False, allow_blank=True, default="")
    dhcp = serializers.BooleanField(required=False, default=True)


class HostResultSerializer(serializers.Serializer):
    host = serializers.IntegerField()
    host_name = serializers.CharField()
    ok = serializers.BooleanField()
    error = serializers.CharField(help_text="what failed on this host, with its message (empty when ok)")
    network = NetworkSerializer(allow_null=True, help_text="the network now on the host (null when it failed)")


DefineResultSerializer = inline_serializer(
    "NetworkDefineResult", {"name": serializers.CharField(), "results": HostResultSerializer(many=True)}
)
ACTION_OK = inline_serializer("NetworkActionDone", {"network": NetworkSerializer()})


def _view(row: HostNetwork):
    view = network_services.network_view(row)
    if view is None:  # the host no longer reports it
        raise Http404
    return view


class HostNetworksView(APIView):
    """GET hosts/{id}/networks/: the host's libvirt networks as it last reported them."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(responses={200: NetworkSerializer(many=True)})
    def get(self, request, pk: int):
        host = get_object_or_404(Host, pk=pk)
        return Response(NetworkSerializer(network_services.host_networks(host), many=True).data)


class NetworkViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    queryset = HostNetwork.objects.select_related("host")
    permission_classes = [permissions.IsAdminUser]
    serializer_class = NetworkSerializer

    def retrieve(self, request, pk=None):
        return Response(NetworkSerializer(_view(self.get_object())).data)

    @extend_schema(
        request=NetworkCreateSerializer,
        responses={
            201: OpenApiResponse(DefineResultSerializer, description="defined and started on every host"),
            207: OpenApiResponse(DefineResultSerializer, description="on some hosts; `results` say which failed"),
        },
    )
    def create(self, request):
        """Define, start and autostart a network on each host; 400 and nothing changed when no host could."""
        incoming = NetworkCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        order = network_services.validate_order(**incoming.validated_data)
        results = network_services.define_network(request.user, order)
        if not any(r.ok for r in results):
            raise APIValidationError({"hosts": [r.error for r in results]})
        body = {
            "name": order.name,
            "results": [
                {
                    "host": r.host.pk,
                    "host_name": r.host.name,
                    "ok": r.ok,
                    "error": r.error,
                    "network": NetworkSerializer(_view(r.network)).data if r.network else None,
                }
                for r in results
            ],
        }
        return Response(body, status=status.HTTP_201_CREATED if all(r.ok for r in results) else 207)

    def destroy(self, request, pk=None):
        """Stop and undefine it on its host; 409 while our VMs use it (the answer names them)."""
        network_services.delete_network(request.user, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ACTION_OK})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        row = self.get_object()
        network_services.start_network(request.user, row)
        return Response({"network": NetworkSerializer(_view(row)).data})

    @extend_schema(request=None, responses={200: ACTION_OK})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        row = self.get_object()
        network_services.stop_network(request.user, row)
        return Response({"network": NetworkSerializer(_view(row)).data})

    @extend_schema(
        request=inline_serializer("NetworkAutostart", {"autostart": serializers.BooleanField()}),
        responses={200: ACTION_OK},
    )
    @action(detail=True, methods=["post"])
    def autostart(self, request, pk=None):
        row = self.get_object()
        incoming = serializers.BooleanField()
        value = request.data.get("autostart") if hasattr(request.data, "get") else None
        try:
            on = incoming.to_internal_value(value)
        except serializers.ValidationError as exc:
            raise APIValidationError({"autostart": exc.detail}) from None
        network_services.set_autostart(request.user, row, on)
        return Response({"network": NetworkSerializer(_view(row)).data})
