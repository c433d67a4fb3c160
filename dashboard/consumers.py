"""Fleet-wide websocket: hosts and VMs the user may see, pushed as they change."""

from __future__ import annotations

from dashboard.groups import FLEET, user_group
from dashboard.sockets import CLOSE_UNAUTHENTICATED, SessionSocket


class FleetConsumer(SessionSocket):
    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # Staff see every change; others only what is sent to their own group.
        await self.start_session(user, [user_group(user.pk), FLEET] if user.is_staff else [user_group(user.pk)])
