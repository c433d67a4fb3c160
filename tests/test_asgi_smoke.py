"""The ASGI app as a browser meets it: login page over HTTP, websockets refused without login."""

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from dashboard.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
HOST = [(b"host", b"127.0.0.1:8000")]


@pytest.mark.django_db(transaction=True)
async def test_root_redirects_to_login_and_login_page_renders():
    response = await HttpCommunicator(application, "GET", "/", headers=HOST).get_response()
    assert response["status"] == 302
    assert dict(response["headers"])[b"Location"].startswith(b"/login/")
    page = await HttpCommunicator(application, "GET", "/login/", headers=HOST).get_response()
    assert page["status"] == 200
    assert b'name="password"' in page["body"]
    assert b"csrfmiddlewaretoken" in page["body"]


@pytest.mark.django_db(transaction=True)
async def test_websocket_refused_without_login():
    communicator = WebsocketCommunicator(application, "/ws/fleet/", headers=[ORIGIN])
    connected, _ = await communicator.connect()
    # Accepted only to be closed with a code the page can read: 4401, not logged in.
    assert connected is True
    assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


@pytest.mark.django_db(transaction=True)
async def test_websocket_refused_from_foreign_origin_even_when_logged_in():
    cookie = await _session_cookie()
    communicator = WebsocketCommunicator(
        application, "/ws/fleet/", headers=[(b"origin", b"http://evil.example"), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected is False


@pytest.mark.django_db(transaction=True)
async def test_websocket_accepted_with_login_and_own_origin():
    cookie = await _session_cookie()
    communicator = WebsocketCommunicator(application, "/ws/fleet/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert connected is True
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_logout_closes_the_fleet_socket():
    from asgiref.sync import sync_to_async

    user = await sync_to_async(get_user_model().objects.create_user)("leaver", password="pw-123456789")
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(application, "/ws/fleet/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert connected is True
    await sync_to_async(client.post)("/logout/")
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


async def _session_cookie() -> bytes:
    from asgiref.sync import sync_to_async

    def login() -> bytes:
        user = get_user_model().objects.create_user("ws-user", password="pw-123456789")
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    return await sync_to_async(login)()
