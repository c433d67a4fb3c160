from django.urls import path

from dashboard.consumers import FleetConsumer
from jobs.routing import websocket_urlpatterns as job_routes
from vms.consumers import ConsoleConsumer, VMConsumer
from vms.consumers_graphics import GraphicsConsumer, SpiceConsumer

websocket_urlpatterns = [
    path("ws/fleet/", FleetConsumer.as_asgi()),
    path("ws/vms/<uuid:uuid>/", VMConsumer.as_asgi()),
    path("ws/vms/<uuid:uuid>/console/", ConsoleConsumer.as_asgi()),
    path("ws/vms/<uuid:uuid>/vnc/", GraphicsConsumer.as_asgi()),
    path("ws/vms/<uuid:uuid>/spice/", SpiceConsumer.as_asgi()),
    *job_routes,
]
