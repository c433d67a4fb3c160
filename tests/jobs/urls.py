"""The project's URLs plus the jobs app's, as the lead mounts them in dashboard/urls.py."""

from django.urls import include, path

from dashboard.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("api/v1/", include("jobs.api_urls")),
    path("", include("jobs.urls")),
    *project_urlpatterns,
]
