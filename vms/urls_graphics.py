"""Routes of the graphical console (include from dashboard/urls.py: `path("", include("vms.urls_graphics"))`)."""

from django.urls import path

from vms import views_graphics

urlpatterns = [
    path("vms/<uuid:uuid>/graphics/", views_graphics.graphics_console, name="vm-graphics"),
    path(
        "vms/<uuid:uuid>/graphics/spice/",
        views_graphics.graphics_console,
        {"display": "spice"},
        name="vm-graphics-spice",
    ),
    path("vms/<uuid:uuid>/graphics/vnc/", views_graphics.graphics_console, {"display": "vnc"}, name="vm-graphics-vnc"),
    path("vms/<uuid:uuid>/console-token/", views_graphics.console_token, name="vm-console-token"),
    path("vms/<uuid:uuid>/console.vv", views_graphics.console_vv, name="vm-console-vv"),
]
