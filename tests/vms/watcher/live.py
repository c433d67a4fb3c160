"""Helpers for the live-fleet tests: users with a session cookie, demo domains, websocket clients."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from sandbox.demo_domain import demo_domain_xml
from sandbox.demo_guest import KERNEL_CMDLINE
from vms.consumers.vm import websocket_urlpatterns
from vms.hypervisor import domains
from vms.hypervisor.connection import open_connection

application = AuthMiddlewareStack(URLRouter(websocket_urlpatterns()))


def user_with_cookie(username: str, **extra) -> tuple[object, Client, bytes]:
    user = get_user_model().objects.create_user(username, password="pw-123456789", **extra)
    client = Client()
    client.force_login(user)
    return user, client, f"sessionid={client.cookies['sessionid'].value}".encode()


async def ws(path: str, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"cookie", cookie)] if cookie else []
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def close_code(communicator: WebsocketCommunicator, timeout: float = 5) -> int | None:
    """The code the server closed with (skipping any message it sent before)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await communicator.receive_output(timeout=deadline - time.monotonic())
        if message["type"] == "websocket.close":
            return message.get("code")
    return None


async def wait_for(predicate: Callable[[], object], timeout: float, what: str, log: Callable[[], str] = str) -> object:
    """Poll a database predicate (run in a thread) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await sync_to_async(predicate)()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s; watcher log:\n{log()}")
        await asyncio.sleep(0.1)


async def receive_until(communicator: WebsocketCommunicator, match: Callable[[dict], bool], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("the expected websocket message did not arrive")
        message = await communicator.receive_json_from(timeout=remaining)
        if match(message):
            return message


class ConsoleReader:
    """Accumulates console.output text from one console socket."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.text = ""
        self.first: dict | None = None

    async def read_until(self, needle: str, timeout: float, start: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.text[start:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{needle!r} not on the console; got: {self.text[-500:]!r}")
            # A timeout in a communicator kills its consumer: wait for as long as the test allows.
            try:
                message = await self.communicator.receive_json_from(timeout=remaining)
            except TimeoutError:
                raise AssertionError(f"{needle!r} not on the console; got: {self.text[-500:]!r}") from None
            if self.first is None:
                self.first = message
            if message.get("type") == "console.output":
                self.text += message["data"]
        return self.text


@contextmanager
def demo_domain(uri: str, vm_uuid: object, start: bool = True, bridge: str | None = None) -> Iterator[str]:
    """A demo guest with the VM's UUID on a sandbox host (with a NIC on `bridge`, e.g. the lab's br0);
    forced off and undefined afterwards."""
    name = f"wtest-{uuid.uuid4().hex[:8]}"
    try:
        conn = open_connection(uri)
        try:
            dom = domains.define(conn, demo_domain_xml(name, str(vm_uuid), KERNEL_CMDLINE, bridge=bridge), name)
            if start:
                domains.start(dom)
        finally:
            conn.close()
        yield name
    finally:
        remove_domain(uri, vm_uuid)


def start_domain(uri: str, vm_uuid: object) -> None:
    conn = open_connection(uri)
    try:
        domains.start(conn.lookupByUUIDString(str(vm_uuid)))
    finally:
        conn.close()


def remove_domain(uri: str, vm_uuid: object) -> None:
    # A fresh connection: the test may have restarted the host's daemon meanwhile.
    conn = open_connection(uri)
    try:
        dom = domains.find_by_uuid(conn, str(vm_uuid))
        if dom is not None:
            domains.force_off(dom)
            domains.undefine(dom)
    finally:
        conn.close()
