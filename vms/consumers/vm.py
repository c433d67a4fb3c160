"""Websockets of one VM: its live state and job messages, and its serial console.

Both authorize on connect (4401: not logged in, 4403: not allowed; the socket is accepted first so a
browser sees the code) and are session sockets (live/sockets.py): closed when their session logs out
(4401), re-checked when the user's rights change (a share removed: 4403; a console whose user may no
longer type keeps the picture and drops input, and says so with "console.access").
"""

from __future__ import annotations

import json
import time

from channels.db import database_sync_to_async
from django.utils.translation import gettext as _

from live.redis import async_redis
from live.sockets import CLOSE_FORBIDDEN, CLOSE_TOO_BIG, CLOSE_UNAUTHENTICATED, SessionSocket
from vms.groups import console_group, vm_group
from vms.models import VirtualMachine
from vms.permissions import can_view_vm, vm_access
from vms.selectors import vm_by_uuid
from vms.services.state import state_payload
from vms.watcher.observed import console_scrollback
from vms.watcher.store import console_input_channel

MAX_INPUT_BYTES = 4096
# A frame longer than this is refused before it is parsed (JSON) and the socket closed with 1009:
# keystrokes and pastes fit in MAX_INPUT_BYTES; anything this big is not typing.
MAX_FRAME_BYTES = 64 * 1024
# Console input re-checks "may type" at most this often (rights changes also re-check at once).
INPUT_RECHECK_S = 5.0


class VMSocket(SessionSocket):
    """What both VM sockets share: authorization, groups, logout, re-checks."""

    def groups_for(self, vm: VirtualMachine) -> list[str]:
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        self.vm = await database_sync_to_async(vm_by_uuid)(self.scope["url_route"]["kwargs"]["uuid"])
        if self.vm is None or not await database_sync_to_async(can_view_vm)(user, self.vm):
            await self.refuse(CLOSE_FORBIDDEN)
            return
        await self.start_session(user, self.groups_for(self.vm))
        await self.accept()
        await self.ready()

    async def ready(self) -> None:
        """Send what a fresh page needs."""

    def check_access(self, user) -> bool | str:
        vm = VirtualMachine.objects.filter(pk=self.vm.pk).first()
        return (vm is not None and can_view_vm(user, vm)) or _("You may no longer see this VM.")


class VMConsumer(VMSocket):
    """/ws/vms/<uuid>/: vm.state, vm.stats and the job messages of one VM."""

    def groups_for(self, vm: VirtualMachine) -> list[str]:
        return [vm_group(vm.uuid)]

    async def ready(self) -> None:
        await self.send_json(state_payload(self.vm))


class ConsoleConsumer(VMSocket):
    """/ws/vms/<uuid>/console/: the serial console.

    Out: JSON text frames {"type": "console.output", "data": "<text>"} (first the scrollback, marked
    "scrollback": true, then live output), {"type": "console.state", "open": bool} (right after the
    scrollback, then whenever the watcher opens or loses the stream) and {"type": "console.access",
    "may_type": bool} when the user's right to type changes while the socket is open.
    In: {"type": "console.input", "data": "<keys>"} as JSON text, or raw bytes in a binary frame;
    accepted only from users who may operate the VM. A frame over MAX_FRAME_BYTES closes the socket
    with 1009 before it is parsed.
    """

    may_type = False
    input_checked_at = 0.0
    input_recheck_s = INPUT_RECHECK_S
    _may_type_now = False

    def groups_for(self, vm: VirtualMachine) -> list[str]:
        return [console_group(vm.uuid)]

    async def ready(self) -> None:
        _may_view, self.may_type = await database_sync_to_async(vm_access)(self.scope["user"], self.vm)
        self.input_checked_at = time.monotonic()
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

    def check_access(self, user) -> bool | str:
        vm = VirtualMachine.objects.filter(pk=self.vm.pk).first()
        may_view, self._may_type_now = vm_access(user, vm) if vm is not None else (False, False)
        return may_view or _("You may no longer see this VM.")

    async def access_still_allowed(self) -> bool | str:
        """Watching needs the view right (else 4403); typing the operate right: losing it keeps the
        socket, drops input from now on, and tells the page."""
        verdict = await super().access_still_allowed()
        if verdict is not True:
            return verdict
        self.input_checked_at = time.monotonic()
        if self._may_type_now != self.may_type:
            self.may_type = self._may_type_now
            await self.send_json({"type": "console.access", "vm": str(self.vm.uuid), "may_type": self.may_type})
            if not self.may_type:
                message = _("You may no longer type in this console; you may still watch it.")
                await self.send_json({"type": "error", "message": message})
        return True

    async def broadcast(self, event: dict) -> None:
        payload = event["payload"]
        if payload.get("type") == "console.output" and payload.get("end", 0) <= self.scrollback_end:
            return
        await self.send_json(payload)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        # Size first, before anything parses the frame (characters <= bytes: a cheap upper bound).
        size = len(bytes_data) if bytes_data is not None else len(text_data or "")
        if size > MAX_FRAME_BYTES:
            message = _("Too much input at once; paste smaller pieces.")
            await self.send_json({"type": "error", "message": message})
            await self.close_for(CLOSE_TOO_BIG, message)
            return
        # The cheap path: "may type" as last checked; at most every input_recheck_s seconds (and at
        # once on "access.changed") the session and the rights are read again.
        if time.monotonic() - self.input_checked_at >= self.input_recheck_s and not await self.recheck():
            return  # closed: the session or the right to watch is gone
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
        except (ValueError, RecursionError):  # "[[[[..." nests past the parser's recursion limit
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
