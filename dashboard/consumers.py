"""Fleet-wide websocket: hosts and VMs the user may see, pushed as they change."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dashboard.groups import FLEET, user_group


class FleetConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        # Staff see every change; others only what is sent to their own group.
        self.groups_joined = [user_group(user.pk)]
        if user.is_staff:
            self.groups_joined.append(FLEET)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def broadcast(self, event: dict) -> None:
        """Relay a typed message (vm.state, host.state, job.progress) to the browser."""
        await self.send_json(event["payload"])
