"""The graphical console in a real browser: noVNC on the page, through daphne's relay, to a sandbox VM's
VNC display. Screenshots go to test-output/browser/.

chromium -> daphne (page, ticket POST, /ws/vms/<uuid>/vnc/) -> sandbox host 1 reached over SSH: a channel
through its sshd to QEMU's VNC port on the host's own loopback (out of the web server's reach otherwise).
The VM is defined and started directly over libvirt (the demo guest plus a VNC display and a VGA card);
its row names the owner, the registered host and the running state.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from sandbox import bootstrap
from sandbox.demo_guest import SCREEN_KERNEL_CMDLINE
from tests.browser.support import PASSWORD, log_in
from tests.vms.graphics.conftest import graphics_domain_xml, running_domain
from vms.choices import ShareLevel, VMState
from vms.hypervisor.graphics import first_graphics
from vms.models import Host, VirtualMachine, VMShare

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The displays' own passwords (the relay answers them; neither may ever reach the browser).
VNC_DISPLAY_PASSWORD = "vncpw-42"
SPICE_DISPLAY_PASSWORD = "spice-display-pw-0123"
STATUS = "#vnc-status"


def wait_for_status(page, level: str, timeout: float = 20_000) -> str:
    page.wait_for_function(
        f"document.querySelector('{STATUS}').dataset.level === '{level}'", timeout=timeout, polling=100
    )
    return page.locator(STATUS).inner_text()


def record_what_the_browser_receives(page) -> list:
    """Every websocket frame and console-token answer the page receives, as bytes."""
    received: list[bytes] = []

    def on_socket(ws) -> None:
        ws.on(
            "framereceived",
            lambda payload: received.append(payload if isinstance(payload, bytes) else payload.encode()),
        )

    def on_response(response) -> None:
        if "/console-token/" in response.url:
            received.append(response.body())

    page.on("websocket", on_socket)
    page.on("response", on_response)
    return received


def assert_never_sent(page, received: list, password: str) -> None:
    assert received, "nothing was recorded"
    assert not [chunk for chunk in received if password.encode() in chunk]
    assert password not in page.content()


def canvas_size(page) -> dict:
    return page.evaluate(
        """() => {
            const canvas = document.querySelector('#vnc-screen canvas');
            if (!canvas) return null;
            const box = canvas.getBoundingClientRect();
            return {width: canvas.width, height: canvas.height, shownWidth: box.width, shownHeight: box.height};
        }"""
    )


def test_vnc_console_connects_disconnects_and_refuses_others(browser, web_server, fleet_hosts, output_dir):
    User = get_user_model()
    owner = User.objects.create_user("painter", "painter@example.org", PASSWORD)
    User.objects.create_user("watcher", "watcher@example.org", PASSWORD)
    User.objects.create_user("stranger", "stranger@example.org", PASSWORD)
    host = fleet_hosts[0]

    with running_domain(host.uri, vnc=True, password=VNC_DISPLAY_PASSWORD) as vm_uuid:
        vm = VirtualMachine.objects.create(
            uuid=vm_uuid, name="screen-demo", owner=owner, host=host, state=VMState.RUNNING
        )
        VMShare.objects.create(vm=vm, user=User.objects.get(username="watcher"), level=ShareLevel.VIEW)
        url = f"{web_server.url}/vms/{vm.uuid}/graphics/"
        socket_closes = []

        # The owner: noVNC connects through the relay and draws the guest's screen.
        page = log_in(browser, web_server.url, "painter")
        page.on("websocket", lambda ws: ws.on("close", lambda _ws: socket_closes.append(ws.url)))
        received = record_what_the_browser_receives(page)
        page.goto(url)
        # The display has a password; the relay answers it, noVNC never asks for one.
        text = wait_for_status(page, "good")
        assert text == "Connected", f"status: {text}\n{web_server.log()}"
        page.wait_for_function(
            "(() => { const c = document.querySelector('#vnc-screen canvas');"
            " return c && c.width > 0 && c.height > 0; })()",
            timeout=20_000,
        )
        size = canvas_size(page)
        assert size["width"] > 0 and size["height"] > 0, size
        assert size["shownWidth"] > 0 and size["shownHeight"] > 0, size
        assert page.locator("#vnc-cad").is_enabled()
        page.wait_for_timeout(1500)  # let the first full frame land before the picture is taken
        page.screenshot(path=str(output_dir / "20-vnc-console.png"), full_page=True)
        assert_never_sent(page, received, VNC_DISPLAY_PASSWORD)

        # Disconnect: the socket closes cleanly, the page says so and offers to reconnect.
        page.click("#vnc-disconnect")
        page.wait_for_function(
            f"document.querySelector('{STATUS}').textContent.trim() === 'Disconnected'", timeout=10_000
        )
        assert page.locator(STATUS).get_attribute("data-level") == ""
        assert page.locator("#vnc-reconnect").is_visible()
        assert not page.locator("#vnc-disconnect").is_visible()
        assert page.locator("#vnc-cad").is_disabled()
        page.wait_for_function("document.querySelector('#vnc-screen canvas') === null", timeout=10_000)
        assert any(f"/ws/vms/{vm.uuid}/vnc/" in closed for closed in socket_closes)

        # Reconnect takes a fresh ticket (the first one was used) and connects again.
        page.click("#vnc-reconnect")
        assert wait_for_status(page, "good") == "Connected"
        page.click("#vnc-disconnect")
        page.wait_for_function(
            f"document.querySelector('{STATUS}').textContent.trim() === 'Disconnected'", timeout=10_000
        )

        # A ticket the relay does not accept (forged here): the page shows the server's reason, which
        # daphne drops from the close frame and the relay sends in a text frame first.
        def forged_ticket(route):
            body = {"token": "forged", "expires_in": 60, "path": f"/ws/vms/{vm.uuid}/vnc/"}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

        page.route("**/console-token/", forged_ticket)
        page.click("#vnc-reconnect")
        assert wait_for_status(page, "bad") == "The console ticket is missing, expired or already used."
        assert page.locator("#vnc-reconnect").is_visible()
        page.screenshot(path=str(output_dir / "21-vnc-console-bad-ticket.png"), full_page=True)
        page.unroute("**/console-token/")

        # A user the VM is shared with for viewing only: the page explains, and no viewer is loaded.
        viewer = log_in(browser, web_server.url, "watcher")
        viewer_sockets = []
        viewer.on("websocket", lambda ws: viewer_sockets.append(ws.url))
        viewer.goto(url)
        body = viewer.locator("main, body").first.inner_text()
        assert "You may see this VM but not use its graphical console" in body
        assert viewer.locator("#vnc-screen").count() == 0
        viewer.wait_for_timeout(500)
        assert not any("/vnc/" in socket_url for socket_url in viewer_sockets)
        viewer.screenshot(path=str(output_dir / "22-vnc-console-view-only.png"), full_page=True)
        # Its socket, opened by hand (it cannot get a ticket), is refused, and told why.
        refusal = viewer.evaluate(
            """(path) => new Promise((resolve) => {
                const socket = new WebSocket(`ws://${location.host}${path}?token=none`);
                let said = null;
                socket.addEventListener('message', (event) => { said = JSON.parse(event.data); });
                socket.addEventListener('close', (event) => resolve({code: event.code, said}));
            })""",
            f"/ws/vms/{vm.uuid}/vnc/",
        )
        assert refusal["code"] == 4403
        assert refusal["said"] == {
            "type": "closing",
            "code": 4403,
            "reason": "You may not use this VM's graphical console.",
        }

        # Someone the VM is not shared with at all: the page does not exist for them.
        stranger = log_in(browser, web_server.url, "stranger")
        response = stranger.goto(url)
        assert response.status == 404
        token = stranger.request.post(f"{web_server.url}/vms/{vm.uuid}/console-token/")
        assert token.status in (403, 404)  # CSRF first (no token in the request), 404 otherwise

        VirtualMachine.objects.filter(pk=vm.pk).delete()  # the domain goes with running_domain


def test_spice_console_connects_in_the_browser(browser, web_server, fleet_hosts, output_dir):
    owner = get_user_model().objects.create_user("spicer", "spicer@example.org", PASSWORD)
    host = fleet_hosts[2]
    with running_domain(host.uri, vnc=True, password=SPICE_DISPLAY_PASSWORD, display="spice") as vm_uuid:
        vm = VirtualMachine.objects.create(
            uuid=vm_uuid,
            name="spice-demo",
            owner=owner,
            host=host,
            state=VMState.RUNNING,
            # What the page reads to pick the viewer (no libvirt call for the page).
            domain_xml=graphics_domain_xml("spice-demo", vm_uuid, True, display="spice"),
        )
        page = log_in(browser, web_server.url, "spicer")
        sockets = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        received = record_what_the_browser_receives(page)
        page.goto(f"{web_server.url}/vms/{vm.uuid}/graphics/")
        assert page.locator("#spice-screen").count() == 1
        text = wait_for_status(page, "good", timeout=30_000)
        assert text == "Connected", f"status: {text}\n{web_server.log()}"
        page.wait_for_function(
            "(() => { const c = document.querySelector('#spice-screen canvas');"
            " return c && c.width > 0 && c.height > 0; })()",
            timeout=20_000,
        )
        box = page.locator("#spice-screen canvas").first.bounding_box()
        assert box["width"] > 0 and box["height"] > 0
        # One socket per SPICE channel, all with the one ticket (reused within its window).
        spice_sockets = [u for u in sockets if f"/ws/vms/{vm.uuid}/spice/" in u]
        assert len(spice_sockets) >= 2
        assert len({u.split("token=")[1] for u in spice_sockets}) == 1
        page.wait_for_timeout(1500)
        page.screenshot(path=str(output_dir / "23-spice-console.png"), full_page=True)
        assert_never_sent(page, received, SPICE_DISPLAY_PASSWORD)

        page.click("#vnc-disconnect")
        page.wait_for_function(
            f"document.querySelector('{STATUS}').textContent.trim() === 'Disconnected'", timeout=10_000
        )
        assert page.locator("#vnc-reconnect").is_visible()
        page.click("#vnc-reconnect")
        assert wait_for_status(page, "good", timeout=30_000) == "Connected"

        # The VNC page of a VM with only SPICE: the relay's reason, by close code.
        page.goto(f"{web_server.url}/vms/{vm.uuid}/graphics/vnc/")
        assert wait_for_status(page, "bad") == "This VM has no VNC display."
        VirtualMachine.objects.filter(pk=vm.pk).delete()


def test_vnc_page_says_why_a_display_outside_its_host_is_refused(
    browser, web_server, fleet_hosts, sandbox_fleet, output_dir
):
    """Issue 13 item 5: a display claiming 127.0.0.1 on a host reached over qemu+tcp at 10.213.0.12 is not
    relayed (over TCP that would be the web server's loopback; over SSH it is the host's, through sshd)."""
    owner = get_user_model().objects.create_user("looper", "looper@example.org", PASSWORD)
    host = Host.objects.create(name="sandbox-2-tcp", uri=sandbox_fleet.host(2).tcp_uri, online=True)
    with running_domain(host.uri, vnc=True, password=VNC_DISPLAY_PASSWORD, listen="127.0.0.1") as vm_uuid:
        vm = VirtualMachine.objects.create(
            uuid=vm_uuid, name="loop-demo", owner=owner, host=host, state=VMState.RUNNING
        )
        page = log_in(browser, web_server.url, "looper")
        page.goto(f"{web_server.url}/vms/{vm.uuid}/graphics/")
        text = wait_for_status(page, "bad")
        address = sandbox_fleet.host(2).address
        assert text == (
            f"The display of this VM listens on 127.0.0.1, which is not an address of host {host.name} "
            f"({address}); the console was not opened."
        ), f"status: {text}\n{web_server.log()}"
        assert page.locator("#vnc-screen canvas").count() == 0
        page.screenshot(path=str(output_dir / "24-vnc-console-display-refused.png"), full_page=True)
        VirtualMachine.objects.filter(pk=vm.pk).delete()


def test_the_demo_guest_with_screen_shows_its_boot_on_the_vnc_console(browser, web_server, fleet_hosts, output_dir):
    """What a newcomer tries first: "Demo guest with screen" (make run's second template) has a VGA card on
    VNC and its kernel writes its boot messages to it (console=tty0), and noVNC shows them: text on
    most of the screen's rows (the firmware alone writes four lines)."""
    template = bootstrap.ensure_screen_template()
    display = first_graphics(template.domain_xml)
    assert display is not None and display.type == "vnc"
    assert "console=tty0" in template.domain_xml and "<video>" in template.domain_xml
    owner = get_user_model().objects.create_user("newcomer", "newcomer@example.org", PASSWORD)
    host = fleet_hosts[0]
    with running_domain(host.uri, vnc=True, password=VNC_DISPLAY_PASSWORD, cmdline=SCREEN_KERNEL_CMDLINE) as vm_uuid:
        vm = VirtualMachine.objects.create(
            uuid=vm_uuid, name="screen-newcomer", owner=owner, host=host, state=VMState.RUNNING
        )
        page = log_in(browser, web_server.url, "newcomer")
        page.goto(f"{web_server.url}/vms/{vm.uuid}/graphics/")
        assert wait_for_status(page, "good") == "Connected"
        # The kernel's boot messages fill the screen within seconds under TCG.
        page.wait_for_function(
            """() => {
                const c = document.querySelector('#vnc-screen canvas');
                if (!c || !c.width) return false;
                const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let lit = 0;  // pixel rows with text on them
                for (let y = 0; y < c.height; y++) {
                    for (let x = 0; x < c.width; x++) {
                        const i = 4 * (y * c.width + x);
                        if (data[i] + data[i + 1] + data[i + 2] > 150) { lit++; break; }
                    }
                }
                return lit > 0.4 * c.height;
            }""",
            timeout=40_000,
            polling=500,
        )
        page.screenshot(path=str(output_dir / "25-vnc-demo-guest-with-screen.png"), full_page=True)
        VirtualMachine.objects.filter(pk=vm.pk).delete()
