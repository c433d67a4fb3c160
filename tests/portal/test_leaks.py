"""Issue 13, information leaks: the share form does not tell who exists; request names are checked per
requester; a rejection's reason reaches the requester and admins only; a job's log reaches only those
who may see the job."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import connections
from django.test import Client

from dashboard.routing import websocket_urlpatterns
from jobs.models import Job
from jobs.services import publish
from jobs.targets import target_for
from portal import services
from portal.choices import RequestState
from tests.portal.conftest import make_vm
from tests.support.people import make_user
from vms.choices import ShareLevel
from vms.services import sharing

application = AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
SECRET_LOG = "root password is hunter2"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submit(user, template, name):
    return services.submit_request(user, template, name, 1, 128, 1)


# --- the share form ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_share_form_does_not_reveal_which_usernames_exist(alice, host):
    vm = make_vm(alice, host, "share-me")
    make_user("carol", is_active=False)
    answers = {}
    for username in ("nobody-here", "carol", "alice"):  # no such user, a disabled one, the owner
        response = client_for(alice).post(f"/vms/{vm.uuid}/share/", {"username": username, "level": ShareLevel.VIEW})
        answers[username] = [str(m) for m in get_messages(response.wsgi_request)]
    assert answers["nobody-here"] == answers["carol"] == answers["alice"]
    assert answers["carol"] == ["No active user can receive this share: check the username."]
    assert not vm.shares.exists()


@pytest.mark.django_db
def test_admins_are_told_why_a_share_is_refused(alice, admin, host):
    vm = make_vm(alice, host, "share-admin")
    with pytest.raises(ValidationError, match="owns this VM"):
        sharing.share_vm(admin, vm, "alice", ShareLevel.VIEW)


# --- request names -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_open_request_name_check_does_not_reveal_other_users_requests(alice, bob, template):
    submit(alice, template, "same")
    # bob learns nothing about alice's request: his own is taken as any other.
    theirs = submit(bob, template, "same")
    assert theirs.state == RequestState.PENDING and theirs.requester == bob
    # Two open requests of one user still cannot share a name.
    with pytest.raises(ValidationError) as caught:
        submit(alice, template, "same")
    assert caught.value.message_dict["name"] == [
        "Your request for a VM named 'same' is already waiting; choose another name."
    ]


# --- live messages: rejection reasons and job logs -------------------------------------------------------


@pytest.fixture(autouse=True)
async def close_consumer_connections():
    """Consumers query from asgiref's shared thread; close its connection so the test database can go."""
    yield
    await sync_to_async(connections.close_all)()


def cookie_for(user) -> bytes:
    return f"sessionid={client_for(user).cookies['sessionid'].value}".encode()


async def connect(path: str, user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"cookie", await sync_to_async(cookie_for)(user))]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def next_of(socket: WebsocketCommunicator, kind: str) -> dict:
    for _ in range(10):
        message = await socket.receive_json_from(timeout=5)
        if message.get("type") == kind:
            return message
    raise AssertionError(f"no {kind} message")


@pytest.mark.django_db(transaction=True)
async def test_rejection_reasons_reach_the_requester_and_admins_only(alice, admin, operator, template):
    sockets = {
        who: await connect("/ws/fleet/", user) for who, user in (("alice", alice), ("admin", admin), ("oper", operator))
    }
    req = await sync_to_async(submit)(alice, template, "leak-1")
    for who in ("alice", "admin"):
        assert (await next_of(sockets[who], "request.state"))["request"] == req.pk
    await sync_to_async(services.reject)(admin, req, "budget of team X is frozen")
    for who in ("alice", "admin"):
        assert (await next_of(sockets[who], "request.state"))["reason"] == "budget of team X is frozen"
    # An operator sees every VM, not other people's requests and why they were refused.
    assert await sockets["oper"].receive_nothing(timeout=1)
    for socket in sockets.values():
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_job_logs_reach_only_those_who_may_see_the_job(alice, bob, admin, host):
    vm = await sync_to_async(make_vm)(alice, host, "logged-vm")
    await sync_to_async(sharing.share_vm)(alice, vm, "bob", ShareLevel.VIEW)
    # An admin's job on alice's VM: alice and bob see the VM (and the job's progress), not the job itself.
    job = await sync_to_async(Job.objects.create)(
        kind="vm.start",
        target=target_for(vm),
        requested_by=admin,
        log=[{"seq": 1, "level": "info", "message": SECRET_LOG, "step": "", "at": "2026-01-01T00:00:00Z"}],
    )
    owner_fleet = await connect("/ws/fleet/", alice)
    shared_page = await connect(f"/ws/vms/{vm.uuid}/", bob)
    job_page = await connect(f"/ws/jobs/{job.pk}/", admin)
    assert (await next_of(job_page, "job.progress"))["log"][0]["message"] == SECRET_LOG  # the snapshot

    await sync_to_async(publish)(job)
    for socket in (owner_fleet, shared_page):
        message = await next_of(socket, "job.progress")
        assert message["job"] == job.pk and "progress" in message
        assert SECRET_LOG not in str(message) and "log" not in message
    assert (await next_of(job_page, "job.progress"))["log"][0]["message"] == SECRET_LOG
    for socket in (owner_fleet, shared_page, job_page):
        await socket.disconnect()
