"""Mounted by dashboard/urls.py under /api/v1/: me/tokens/, me/tokens/{id}/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from accounts import api

router = SimpleRouter()
router.register("me/tokens", api.MyTokenViewSet, basename="apitoken")

urlpatterns = [path("", include(router.urls))]
