"""Mounted by dashboard/urls.py under /api/v1/: jobs/, jobs/{id}/, jobs/{id}/retry/, jobs/{id}/cancel/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from jobs import api

# SimpleRouter: no API root view of its own, so it sits beside vms.api.urls under the same prefix.
router = SimpleRouter()
router.register("jobs", api.JobViewSet, basename="job")

urlpatterns = [path("", include(router.urls))]
