"""REST API (DRF). Viewsets stay thin: validation in serializers, rules in services."""

from rest_framework import permissions, serializers, viewsets

from vms.models import Host


class HostSerializer(serializers.ModelSerializer):
    # The stored URI may hold credentials; the API shows the safe form only.
    uri = serializers.CharField(write_only=True)
    display_uri = serializers.CharField(read_only=True)

    class Meta:
        model = Host
        fields = ["id", "name", "uri", "display_uri", "enabled", "max_concurrent_jobs", "notes", "online", "last_checked"]
        read_only_fields = ["online", "last_checked"]


class HostViewSet(viewsets.ModelViewSet):
    queryset = Host.objects.all()
    serializer_class = HostSerializer
    permission_classes = [permissions.IsAdminUser]
