from django.urls import include, path
from rest_framework.routers import SimpleRouter

from portal import api

router = SimpleRouter()
router.register("requests", api.VMRequestViewSet, basename="vmrequest")
router.register("quotas", api.QuotaViewSet, basename="quota")
router.register("audit", api.AuditEntryViewSet, basename="audit")

urlpatterns = [path("", include(router.urls))]
