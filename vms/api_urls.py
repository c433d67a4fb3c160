from django.urls import include, path
from rest_framework.routers import DefaultRouter

from jobs.api_urls import router as jobs_router
from vms import api

router = DefaultRouter()
router.register("hosts", api.HostViewSet, basename="host")
router.register("vms", api.VMViewSet, basename="vm")
router.registry.extend(jobs_router.registry)

urlpatterns = [path("", include(router.urls))]
