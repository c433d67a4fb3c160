"""Issue 13, hole 2: every socket refuses by accepting and then closing with its code, so a browser
sees 4401/4403/4404 (a handshake refused before accept reaches a browser as 1006, without a code).

A real uvicorn (the Procfile's server) in this process serves dashboard.asgi.application, origin check
included; a real websocket client reads the close code as a browser would.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import uvicorn
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from jobs.models import Job

from .helpers import login, make_user, make_vm

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def server():
    from dashboard.asgi import application

    config = uvicorn.Config(application, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    yield f"127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def code_seen(base: str, path: str, cookie: bytes | None = None) -> int | str | None:
    """The close code a browser would read, or how the handshake failed."""
    headers = {"Cookie": cookie.decode()} if cookie else {}
    try:
        async with connect(f"ws://{base}{path}", origin=f"http://{base}", additional_headers=headers, proxy=None) as ws:
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None
    except InvalidStatus as exc:
        return f"handshake refused: HTTP {exc.response.status_code}"


async def test_every_socket_refuses_with_a_code_a_browser_can_read(server):
    @sync_to_async
    def setup():
        owner, other = make_user("owner"), make_user("other")
        vm = make_vm(owner)
        job = Job.objects.create(kind="test.steps", target="tests.thing:1", requested_by=owner)
        return vm, job, login(owner)[1], login(other)[1]

    vm, job, owner_cookie, other_cookie = await setup()
    expected = {
        ("/ws/fleet/", None): 4401,
        (f"/ws/vms/{vm.uuid}/", None): 4401,
        (f"/ws/vms/{vm.uuid}/", other_cookie): 4403,
        (f"/ws/vms/{vm.uuid}/console/", None): 4401,
        (f"/ws/vms/{vm.uuid}/console/", other_cookie): 4403,
        (f"/ws/vms/{vm.uuid}/vnc/", None): 4401,
        (f"/ws/vms/{vm.uuid}/vnc/", owner_cookie): 4403,  # no console ticket
        (f"/ws/vms/{vm.uuid}/spice/", other_cookie): 4403,
        (f"/ws/jobs/{job.pk}/", None): 4401,
        (f"/ws/jobs/{job.pk}/", other_cookie): 4404,
        ("/ws/jobs/999999/", owner_cookie): 4404,
    }
    seen = {door: await code_seen(server, door[0], door[1]) for door in expected}
    assert seen == expected
