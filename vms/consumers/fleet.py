"""Fleet-wide websocket: hosts and VMs the user may see, pushed as they change."""

from __future__ import annotations

from channels.db import database_sync_to_async

from live.groups import user_group
from live.sockets import CLOSE_UNAUTHENTICATED, SessionSocket
from vms.groups import FLEET
from vms.permissions import sees_all_vms


class FleetConsumer(SessionSocket):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        # Admins and operators see every change; others only what is sent to their own group.
        sees_all = await database_sync_to_async(sees_all_vms)(user)
        await self.start_session(user, [user_group(user.pk), FLEET] if sees_all else [user_group(user.pk)])
        await self.accept()
