"""Live updates of one job for its page: /ws/jobs/<id>/."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs.groups import job_group
from jobs.models import Job
from jobs.selectors import can_view
from jobs.services import payload

# Application close codes (4000-4999): like HTTP 401 and 404, so the page can tell them apart.
CLOSE_NOT_LOGGED_IN = 4401
CLOSE_NOT_FOUND = 4404


class JobConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_LOGGED_IN)
            return
        job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        snapshot = await self._snapshot(job_id, user)
        if snapshot is None:
            # Same answer for "no such job" and "not yours": do not reveal which ids exist.
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = job_group(job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # The state as of now, so an update between page render and connect is never missed.
        await self.send_json(snapshot)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def broadcast(self, event: dict) -> None:
        """Relay a typed message (job.progress) to the browser."""
        await self.send_json(event["payload"])

    @database_sync_to_async
    def _snapshot(self, job_id: int, user) -> dict | None:
        job = Job.objects.filter(pk=job_id).first()
        if job is None or not can_view(job, user):
            return None
        return payload(job)
