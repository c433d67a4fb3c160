"""The project's URLs plus the graphical console's, until dashboard/urls.py includes vms.urls_graphics."""

from django.urls import include, path

from dashboard.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("", include("vms.urls_graphics")), *project_urlpatterns]
