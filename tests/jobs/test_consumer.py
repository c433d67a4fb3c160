"""/ws/jobs/<id>/: who may connect, and that broadcasts reach the page (real Redis channel layer)."""

from __future__ import annotations

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
    user = get_user_model().objects.create_user(name)
    client = Client()
    client.force_login(user)
    return user, f"sessionid={client.cookies['sessionid'].value}".encode()


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


async def test_refused_without_login():
    owner, _cookie = await make_user_and_cookie("owner")
    job_id = await enqueue_for(owner)
    _comm, connected, code = await connect(f"/ws/jobs/{job_id}/")
    assert (connected, code) == (False, 4401)


async def test_refused_for_someone_elses_job_and_for_missing_jobs():
    owner, _cookie = await make_user_and_cookie("owner")
    _other, other_cookie = await make_user_and_cookie("other")
    job_id = await enqueue_for(owner)
    _comm, connected, code = await connect(f"/ws/jobs/{job_id}/", other_cookie)
    assert (connected, code) == (False, 4404)
    _comm, connected, code = await connect("/ws/jobs/999999/", other_cookie)
    assert (connected, code) == (False, 4404)


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
