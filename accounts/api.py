"""`/api/v1/me/tokens/`: your API tokens. GET lists them (never a key), POST makes one and shows its key
once, DELETE /api/v1/me/tokens/{id}/ revokes one (it then answers "revoked")."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from accounts import tokens
from accounts.models import ApiToken, TokenState


class ApiTokenSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=TokenState.choices, read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "state", "created_at", "last_used_at", "expires_at", "revoked_at"]
        read_only_fields = fields


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="the key, shown this once: send it as `Authorization: Token <key>`")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=tokens.MAX_NAME, required=False, allow_blank=True, default="")
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=tokens.MAX_DAYS, required=False, allow_null=True, default=None
    )


class MyTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your own API tokens; nobody sees anyone else's here."""

    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()  # tells the schema that {id} is an integer; get_queryset decides

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user).select_related("user")

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        incoming = ApiTokenCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        issued = tokens.issue(request.user, **incoming.validated_data, actor=request.user)
        issued.token.token = issued.key  # on this answer only
        return Response(ApiTokenCreatedSerializer(issued.token).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        tokens.revoke(self.get_object(), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
