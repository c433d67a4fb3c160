from django.urls import include, path
from rest_framework.routers import DefaultRouter

from vms import api

router = DefaultRouter()
router.register("hosts", api.HostViewSet, basename="host")

urlpatterns = [path("", include(router.urls))]
