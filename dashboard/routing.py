from django.urls import path

from dashboard.consumers import FleetConsumer
from jobs.routing import websocket_urlpatterns as job_routes

websocket_urlpatterns = [
    path("ws/fleet/", FleetConsumer.as_asgi()),
    *job_routes,
]
