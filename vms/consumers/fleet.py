"""Fleet-wide websocket: hosts and VMs the user may see, pushed as they change."""

from __future__ import annotations

from channels.db import database_sync_to_async

from live.groups import user_group
from live.sockets import CLOSE_UNAUTHENTICATED, SessionSocket
from vms.groups import FLEET
from vms.permissions import sees_all_vms


class FleetConsumer(SessionSocket):
    """Everyone gets what is sent to their own group; admins and operators also every fleet change.

    Becoming or ceasing to be an operator or admin while the socket is open joins or leaves the fleet
    group at once and sends {"type": "access.changed", "sees_all": bool} (the page may reload).
    """

    sees_all = False
    _sees_all_now = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        self.sees_all = await database_sync_to_async(sees_all_vms)(user)
        await self.start_session(user, [user_group(user.pk), FLEET] if self.sees_all else [user_group(user.pk)])
        await self.accept()

    def check_access(self, user) -> bool | str:
        self._sees_all_now = sees_all_vms(user)
        return True

    async def access_still_allowed(self) -> bool | str:
        verdict = await super().access_still_allowed()
        if verdict is not True or self._sees_all_now == self.sees_all:
            return verdict
        self.sees_all = self._sees_all_now
        if self.sees_all:
            await self.join_group(FLEET)
        else:
            await self.leave_group(FLEET)
        await self.send_json({"type": "access.changed", "sees_all": self.sees_all})
        return True
