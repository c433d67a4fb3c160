"""/ws/jobs/<id>/: who may connect, and that broadcasts reach the page (real Redis channel layer)."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from jobs import services
from jobs.choices import JobState
from jobs.models import Job
from jobs.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

# As dashboard/asgi.py wraps it, minus the origin check (tests/test_asgi_smoke.py covers that).
application = AuthMiddlewareStack(URLRouter(websocket_urlpatterns))


@sync_to_async
def make_user_and_cookie(name: str) -> tuple[object, bytes]:
    user, _client, cookie = _user_client_cookie(name)
    return user, cookie


def _user_client_cookie(name: str, **extra) -> tuple[object, Client, bytes]:
    user = get_user_model().objects.create_user(name, **extra)
    client = Client()
    client.force_login(user)
    return user, client, f"sessionid={client.cookies['sessionid'].value}".encode()


@sync_to_async
def enqueue_for(user) -> int:
    # A row, not services.enqueue: in a transactional test that would send a real message to the
    # default queue, where a developer's running worker would pick it up.
    return Job.objects.create(kind="test.steps", target="tests.thing:1", requested_by=user).pk


async def connect(path: str, cookie: bytes | None = None) -> tuple[WebsocketCommunicator, bool, int | None]:
    headers = [(b"cookie", cookie)] if cookie else []
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def closed_with(communicator: WebsocketCommunicator, timeout: float = 5) -> int | None:
    """The code the server closed with, skipping frames it sent before (None: nothing within timeout)."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        message = await communicator.receive_output(timeout=remaining)
        if message["type"] == "websocket.close":
            return message.get("code")
    return None


async def refusal(path: str, cookie: bytes | None = None) -> int | None:
    """Refusals accept the handshake and then close with the code: a browser only reads the code of a
    socket that was opened (one refused at the handshake shows it 1006)."""
    communicator, connected, _code = await connect(path, cookie)
    assert connected, "refused at the handshake: a browser would see 1006, not the code"
    return await closed_with(communicator)


async def test_refused_without_login():
    owner, _cookie = await make_user_and_cookie("owner")
    job_id = await enqueue_for(owner)
    assert await refusal(f"/ws/jobs/{job_id}/") == 4401


async def test_refused_for_someone_elses_job_and_for_missing_jobs():
    owner, _cookie = await make_user_and_cookie("owner")
    _other, other_cookie = await make_user_and_cookie("other")
    job_id = await enqueue_for(owner)
    assert await refusal(f"/ws/jobs/{job_id}/", other_cookie) == 4404
    assert await refusal("/ws/jobs/999999/", other_cookie) == 4404


async def test_owner_gets_a_snapshot_then_live_updates():
    owner, cookie = await make_user_and_cookie("owner")
    job_id = await enqueue_for(owner)
    communicator, connected, _code = await connect(f"/ws/jobs/{job_id}/", cookie)
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert (snapshot["type"], snapshot["job"], snapshot["state"]) == ("job.progress", job_id, "queued")

    await sync_to_async(lambda: services.cancel(Job.objects.get(pk=job_id), owner))()
    update = await communicator.receive_json_from(timeout=5)
    assert update["job"] == job_id
    assert update["state"] == JobState.CANCELLED
    assert update["finished"] is True
    assert "Cancelled by owner" in update["error"]["message"]
    await communicator.disconnect()


async def test_staff_may_follow_anyones_job():
    owner, _cookie = await make_user_and_cookie("owner")
    job_id = await enqueue_for(owner)

    @sync_to_async
    def staff_cookie() -> bytes:
        user = get_user_model().objects.create_user("boss", is_staff=True)
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    communicator, connected, _code = await connect(f"/ws/jobs/{job_id}/", await staff_cookie())
    assert connected
    await communicator.disconnect()


async def test_logout_closes_the_job_socket():
    """Issue 13, hole 2: the job socket is a session socket like the others."""
    owner, client, cookie = await sync_to_async(_user_client_cookie)("owner")
    job_id = await enqueue_for(owner)
    communicator, connected, _code = await connect(f"/ws/jobs/{job_id}/", cookie)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "job.progress"
    await sync_to_async(client.logout)()
    assert await closed_with(communicator) == 4401


async def test_losing_admin_status_closes_the_job_socket_of_someone_elses_job():
    """Issue 13, hole 2: rights taken away close the socket at once, with the code of a refusal."""
    owner, _cookie = await make_user_and_cookie("owner")
    job_id = await enqueue_for(owner)
    boss, _client, boss_cookie = await sync_to_async(_user_client_cookie)("boss", is_staff=True)
    communicator, connected, _code = await connect(f"/ws/jobs/{job_id}/", boss_cookie)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["job"] == job_id

    @sync_to_async
    def demote():
        boss.is_staff = False
        boss.save()

    await demote()
    assert await closed_with(communicator) == 4404
