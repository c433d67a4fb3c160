"""Websockets of one VM: its live state and job messages, and its serial console.

Both authorize on connect (4401: not logged in, 4403: not allowed; the socket is accepted first so a
browser sees the code) and are closed when their session logs out: each socket registers its channel
under its user in Redis, and the `user_logged_out` receiver below sends "session.closed" to the
sockets of the session that logged out.
"""

from __future__ import annotations

import json
import uuid as uuid_lib

from channels.db import database_sync_to_async
from django.utils.translation import gettext as _

from live.redis import async_redis
from live.sockets import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, SessionSocket
from vms.groups import console_group, vm_group
from vms.models import VirtualMachine
from vms.permissions import can_operate_vm, can_view_vm
from vms.services.state import state_payload
from vms.watcher.observed import console_scrollback
from vms.watcher.store import console_input_channel

MAX_INPUT_BYTES = 4096


class VMSocket(SessionSocket):
    """What both VM sockets share: authorization, groups, logout."""

    def groups_for(self, vm: VirtualMachine) -> list[str]:
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        self.vm = await database_sync_to_async(self._find_vm)(self.scope["url_route"]["kwargs"]["uuid"])
        if self.vm is None or not await database_sync_to_async(can_view_vm)(user, self.vm):
            await self.refuse(CLOSE_FORBIDDEN)
            return
        await self.start_session(user, self.groups_for(self.vm))
        await self.accept()
        await self.ready()

    async def ready(self) -> None:
        """Send what a fresh page needs."""

    @staticmethod
    def _find_vm(raw_uuid: str) -> VirtualMachine | None:
        try:
            return VirtualMachine.objects.filter(uuid=uuid_lib.UUID(str(raw_uuid))).first()
        except ValueError:
            return None


class VMConsumer(VMSocket):
    """/ws/vms/<uuid>/: vm.state, vm.stats and the job messages of one VM."""

    def groups_for(self, vm: VirtualMachine) -> list[str]:
        return [vm_group(vm.uuid)]

    async def ready(self) -> None:
        await self.send_json(state_payload(self.vm))


class ConsoleConsumer(VMSocket):
    """/ws/vms/<uuid>/console/: the serial console.

    Out: JSON text frames {"type": "console.output", "data": "<text>"} (first the scrollback, marked
    "scrollback": true, then live output) and {"type": "console.state", "open": bool} (right after the
    scrollback, then whenever the watcher opens or loses the stream).
    In: {"type": "console.input", "data": "<keys>"} as JSON text, or raw bytes in a binary frame;
    accepted only from users who may operate the VM.
    """

    def groups_for(self, vm: VirtualMachine) -> list[str]:
        return [console_group(vm.uuid)]

    async def ready(self) -> None:
        self.may_type = await database_sync_to_async(can_operate_vm)(self.scope["user"], self.vm)
        # After joining the group: output that reaches both the scrollback and us is dropped by `end`.
        data, self.scrollback_end, is_open = await database_sync_to_async(console_scrollback)(self.vm.uuid)
        vm = str(self.vm.uuid)
        await self.send_json(
            {
                "type": "console.output",
                "vm": vm,
                "data": data.decode(errors="replace"),
                "end": self.scrollback_end,
                "scrollback": True,
            }
        )
        await self.send_json({"type": "console.state", "vm": vm, "open": is_open})

    async def broadcast(self, event: dict) -> None:
        payload = event["payload"]
        if payload.get("type") == "console.output" and payload.get("end", 0) <= self.scrollback_end:
            return
        await self.send_json(payload)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        if not await self.session_still_valid():
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not self.may_type:
            await self.send_json({"type": "error", "message": _("You may watch this console but not type in it.")})
            return
        keys = bytes_data if bytes_data is not None else self._keys_from_json(text_data)
        if not keys:
            return
        if len(keys) > MAX_INPUT_BYTES:
            await self.send_json({"type": "error", "message": _("Too much input at once; paste smaller pieces.")})
            return
        await async_redis().publish(console_input_channel(self.vm.uuid), keys)

    @staticmethod
    def _keys_from_json(text: str | None) -> bytes:
        try:
            message = json.loads(text or "")
        except ValueError:
            return b""
        if not isinstance(message, dict) or message.get("type") != "console.input":
            return b""
        data = message.get("data")
        return data.encode() if isinstance(data, str) else b""


def websocket_urlpatterns() -> list:
    """The routes of these consumers, for dashboard/routing.py (and tests that build their own app)."""
    from django.urls import path

    return [
        path("ws/vms/<uuid:uuid>/", VMConsumer.as_asgi()),
        path("ws/vms/<uuid:uuid>/console/", ConsoleConsumer.as_asgi()),
    ]
