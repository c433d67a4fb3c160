"""REST API for templates, images and adopting discovered VMs. Thin: serializers check shapes, services decide."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api import ConflictSerializer, JobSerializer
from vms.choices import GONE_STATES
from vms.domainxml.template import BOOL, CHOICE, DEVICES, INT, SETTINGS, TEXT, VOLUME, Setting, read_settings
from vms.models import Host, Image, ImageCopy, ImageFormat, ImageKind, TemplateVersion, VirtualMachine, VMTemplate
from vms.services import discovery, template_preview
from vms.services import images as image_services
from vms.services import templates as template_services
from vms.services.templates import translated


class ReadForUsersWriteForAdmins(permissions.BasePermission):
    """Any logged-in user may read (they pick templates to request VMs); only admins change anything."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        return request.method in permissions.SAFE_METHODS or user.is_staff


# --- templates -------------------------------------------------------------------------------------------


def serializer_field(setting: Setting) -> serializers.Field:
    """The API field for one declared setting; every setting is optional (None = leave it as it is)."""
    if setting.kind == INT:
        return serializers.IntegerField(min_value=setting.min, max_value=setting.max, required=False)
    if setting.kind == BOOL:
        return serializers.BooleanField(required=False)
    if setting.kind == CHOICE and setting.engine_checks:
        return serializers.CharField(required=False)  # the engine's refusal names the setting
    if setting.kind == CHOICE:
        return serializers.ChoiceField([(v, translated(label)) for v, label in setting.choices], required=False)
    if setting.kind in (TEXT, VOLUME):
        return serializers.CharField(required=False, allow_blank=True, max_length=setting.max_length)
    if setting.kind == DEVICES:
        return serializers.ListField(child=serializers.ChoiceField(setting.values), required=False)
    raise ValueError(f"no API field for a setting of kind {setting.kind!r}")


# Built from the one declaration of the settings (vms.domainxml.template.SETTINGS).
TemplateSettingsSerializer = type(serializers.Serializer)(
    "TemplateSettingsSerializer",
    (serializers.Serializer,),
    {"__module__": __name__, **{s.name: serializer_field(s) for s in SETTINGS}},
)


class _SettingsField(serializers.DictField):
    """The typed settings read from a template's XML (an answer-only field)."""

    def to_representation(self, template) -> dict:
        return read_settings(template.domain_xml)


class TemplateSerializer(serializers.ModelSerializer):
    # Admins only (users choose templates by their limits; the XML and host paths are for admins), so
    # declared as not always present: not read-only fields with required=False (a read-only field is
    # declared required in answers). This serializer only answers; TemplateWriteSerializer takes input.
    domain_xml = serializers.CharField(required=False, help_text="admins only")
    settings = _SettingsField(source="*", required=False, help_text="admins only")

    class Meta:
        model = VMTemplate
        fields = [
            "id",
            "name",
            "description",
            "version",
            "active",
            *template_services.LIMIT_FIELDS,
            "domain_xml",
            "settings",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, template):
        data = super().to_representation(template)
        request = self.context.get("request")
        if request is None or not request.user.is_staff:
            # Users choose templates by their limits; the XML and host paths are for admins.
            data.pop("domain_xml", None)
            data.pop("settings", None)
        return data


class TemplateWriteSerializer(serializers.ModelSerializer):
    domain_xml = serializers.CharField(required=False, trim_whitespace=False)
    settings = TemplateSettingsSerializer(required=False)

    class Meta:
        model = VMTemplate
        fields = ["name", "description", "active", *template_services.LIMIT_FIELDS, "domain_xml", "settings"]
        extra_kwargs = {"name": {"validators": []}}


class TemplateImportSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    xml = serializers.CharField(required=False, trim_whitespace=False)
    file = serializers.FileField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class TemplateVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = TemplateVersion
        fields = ["version", "domain_xml", "limits", "created_at", "created_by"]


class TemplateViewSet(viewsets.ModelViewSet):
    permission_classes = [ReadForUsersWriteForAdmins]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        qs = VMTemplate.objects.all()
        return qs if self.request.user.is_staff else qs.filter(active=True)

    def get_serializer_class(self):
        return TemplateSerializer if self.request.method in permissions.SAFE_METHODS else TemplateWriteSerializer

    def _written(self, template, code=status.HTTP_200_OK, **extra) -> Response:
        data = TemplateSerializer(template, context={"request": self.request}).data
        return Response({**data, **extra}, status=code)

    @extend_schema(request=TemplateWriteSerializer, responses={201: TemplateSerializer})
    def create(self, request):
        incoming = TemplateWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        if "domain_xml" not in data:
            raise APIValidationError({"domain_xml": [_("Give the template's domain XML (or use templates/import/).")]})
        template = template_services.create_template(request.user, **data)
        return self._written(template, status.HTTP_201_CREATED)

    @extend_schema(request=TemplateWriteSerializer, responses={200: TemplateSerializer})
    def update(self, request, pk=None, partial=False):
        template = self.get_object()
        incoming = TemplateWriteSerializer(template, data=request.data, partial=partial)
        incoming.is_valid(raise_exception=True)
        template = template_services.update_template(template, request.user, **dict(incoming.validated_data))
        return self._written(template)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        template = self.get_object()
        in_use = VirtualMachine.objects.filter(template=template).exclude(state__in=GONE_STATES).count()
        if in_use:
            raise APIValidationError(
                {
                    "detail": _(
                        "%(n)d VMs were made from this template; "
                        "retire it (set active to false) instead of deleting it."
                    )
                    % {"n": in_use}
                }
            )
        template_services.delete_template(template, request.user)  # audited
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=TemplateImportSerializer, responses={201: TemplateSerializer})
    @action(detail=False, methods=["post"], url_path="import")
    def import_xml(self, request):
        """A template from a domain XML (`xml` text or an uploaded `file`); per-VM parts are removed."""
        incoming = TemplateImportSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        xml = data.get("xml")
        if xml is None and data.get("file") is not None:
            upload = data["file"]
            if upload.size > template_services.MAX_XML_BYTES:
                raise APIValidationError({"file": [_("A domain XML file is at most 512 KiB.")]})
            xml = upload.read()
        if xml is None:
            raise APIValidationError({"xml": [_("Paste the domain XML as 'xml' or upload it as 'file'.")]})
        template = template_services.import_template(data["name"], xml, request.user, description=data["description"])
        return self._written(template, status.HTTP_201_CREATED, notes=template.import_notes)

    @extend_schema(parameters=[OpenApiParameter("host", int, required=True)], request=None)
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """The domain XML a VM from this template would get on a host, and what was changed to fit it."""
        if not request.user.is_staff:
            raise PermissionDenied(_("Only admins may preview templates on hosts."))
        template = self.get_object()
        host_id = request.query_params.get("host", "")
        if not host_id.isdigit():
            raise APIValidationError({"host": [_("Give the host's id as ?host=<id>.")]})
        host = Host.objects.filter(pk=int(host_id)).first()
        if host is None:
            raise APIValidationError({"host": [_("There is no host with id %(id)s.") % {"id": host_id}]})
        xml, adjustments = template_preview.preview(template, host)
        return Response({"host": host.name, "xml": xml, "adjustments": adjustments})

    @extend_schema(responses=TemplateVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        if not request.user.is_staff:
            raise PermissionDenied(_("Only admins may see template versions."))
        template = self.get_object()
        return Response(TemplateVersionSerializer(template.versions.all(), many=True).data)


# --- images --------------------------------------------------------------------------------------------


class ImageCopySerializer(serializers.ModelSerializer):
    host = serializers.SlugRelatedField(slug_field="name", read_only=True)
    host_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = ImageCopy
        fields = ["host", "host_id", "volume", "state", "progress", "error", "job", "updated_at"]


class ImageSerializer(serializers.ModelSerializer):
    copies = ImageCopySerializer(many=True, read_only=True)
    # None once the uploader's account is gone, or for images made by a command.
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Image
        fields = [
            "id",
            "name",
            "kind",
            "format",
            "size",
            "virtual_size",
            "sha256",
            "volume",
            "uploaded_by",
            "created_at",
            "copies",
            "published",
        ]
        # Only `published` is changed through the API (PATCH); the rest comes from the upload.
        read_only_fields = ["name", "kind", "format", "size", "virtual_size", "sha256", "volume", "created_at"]

    def update(self, image, data):
        if "published" in data:
            image_services.set_published(image, data["published"], self.context["request"].user)
        return image


class ImageUploadSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(ImageKind.choices)
    format = serializers.ChoiceField(ImageFormat.choices)
    file = serializers.FileField()
    hosts = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all(), many=True, required=False, default=list)


class HostListSerializer(serializers.Serializer):
    hosts = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all(), many=True, allow_empty=False)


class ImageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    queryset = Image.objects.prefetch_related("copies__host")
    serializer_class = ImageSerializer
    permission_classes = [permissions.IsAdminUser]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request={"multipart/form-data": ImageUploadSerializer}, responses={201: ImageSerializer})
    def create(self, request):
        """Upload a base image or ISO (multipart: file, name, kind, format, optional hosts to copy it to)."""
        incoming = ImageUploadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        image, jobs = image_services.create_image(
            name=data["name"],
            kind=data["kind"],
            format=data["format"],
            file=data["file"],
            user=request.user,
            hosts=data["hosts"],
        )
        image = self.get_queryset().get(pk=image.pk)
        return Response(
            {**ImageSerializer(image).data, "jobs": JobSerializer(jobs, many=True).data}, status=status.HTTP_201_CREATED
        )

    @extend_schema(summary="Publish or withdraw an ISO (only `published` changes)")
    def update(self, request, *args, **kwargs):
        return super().update(request, *args, **kwargs)

    @extend_schema(summary="Publish or withdraw an ISO (only `published` changes)")
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    def destroy(self, request, pk=None):
        image_services.delete_image(self.get_object(), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=HostListSerializer,
        responses={
            202: inline_serializer("ImageCopyJobs", {"jobs": JobSerializer(many=True)}),
            409: OpenApiResponse(ConflictSerializer, description="a copy to one of the hosts is still running"),
        },
    )
    @action(detail=True, methods=["post"])
    def copy(self, request, pk=None):
        """Copy the image into the default pool of each host (one job per host)."""
        image = self.get_object()
        incoming = HostListSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        jobs = image_services.copy_image(image, incoming.validated_data["hosts"], request.user)
        return Response({"jobs": JobSerializer(jobs, many=True).data}, status=status.HTTP_202_ACCEPTED)


# --- discovered VMs -----------------------------------------------------------------------------------


class AdoptSerializer(serializers.Serializer):
    owner = serializers.CharField(help_text="username of the new owner")


class AdoptVMView(APIView):
    """POST vms/{id}/adopt/ {"owner": "<username>"}: give a discovered VM an owner (admins only)."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(request=AdoptSerializer, responses={200: None})
    def post(self, request, pk: int):
        vm = get_object_or_404(VirtualMachine, pk=pk)
        incoming = AdoptSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        with transaction.atomic():
            owner = discovery.owner_by_username(incoming.validated_data["owner"])
            vm = discovery.adopt(vm, owner, request.user)
        return Response(
            {
                "id": vm.pk,
                "uuid": str(vm.uuid),
                "name": vm.name,
                "owner": owner.get_username(),
                "managed": vm.managed,
                "state": vm.state,
            }
        )


class ForgetVMView(APIView):
    """POST vms/{id}/forget/: stop showing a discovered VM; its domain stays on the host (admins only)."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(request=None, responses={200: None})
    def post(self, request, pk: int):
        vm = get_object_or_404(VirtualMachine, pk=pk)
        vm = discovery.forget(vm, request.user)
        return Response({"id": vm.pk, "uuid": str(vm.uuid), "name": vm.name, "state": vm.state})
