from django.urls import path

from jobs.routing import websocket_urlpatterns as job_routes
from vms.consumers.fleet import FleetConsumer
from vms.consumers.graphics import GraphicsConsumer, SpiceConsumer
from vms.consumers.vm import ConsoleConsumer, VMConsumer

websocket_urlpatterns = [
    path("ws/fleet/", FleetConsumer.as_asgi()),
    path("ws/vms/<uuid:uuid>/", VMConsumer.as_asgi()),
    path("ws/vms/<uuid:uuid>/console/", ConsoleConsumer.as_asgi()),
    path("ws/vms/<uuid:uuid>/vnc/", GraphicsConsumer.as_asgi()),
    path("ws/vms/<uuid:uuid>/spice/", SpiceConsumer.as_asgi()),
    *job_routes,
]
