"""Pages in a real browser without the sandbox: the language switch, the fleet overview kept live
over /ws/fleet/, and the phone layout. Screenshots go to test-output/browser/."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from tests.browser.support import PASSWORD, in_thread, sideways_overflow
from vms.choices import VMState
from vms.models import Host, VirtualMachine
from vms.services.state import set_state

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_fleet_overview_is_live_and_the_language_switches(browser, web_server, output_dir):
    get_user_model().objects.create_superuser("chief", "chief@example.org", PASSWORD)
    caps = {
        "cpus": 8,
        "memory_mib": 16384,
        "pools": [{"name": "default", "active": True, "capacity": 200 * 2**30, "available": 150 * 2**30}],
    }
    hosts = [
        Host.objects.create(name=f"rack-{i}", uri=f"test:///fake{i}", online=i != 3, capabilities=caps)
        for i in (1, 2, 3)
    ]
    vms = [
        VirtualMachine.objects.create(
            name=f"vm-{i:03d}", host=hosts[i % 2], state=VMState.RUNNING, vcpus=2, memory_mib=1024, disk_gib=10
        )
        for i in range(12)
    ]

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(f"{web_server.url}/login/")
    page.fill("#id_username", "chief")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))

    page.goto(f"{web_server.url}/fleet/")
    page.wait_for_function("document.querySelector('[data-live-indicator]').classList.contains('on')")
    card = page.locator(f'[data-host="{hosts[0].pk}"]')
    assert "12 vCPUs on 8 cores" in card.locator('[data-capacity="vcpus"] [data-role="text"]').inner_text()
    page.screenshot(path=str(output_dir / "10-fleet.png"), full_page=True)

    # A VM stops: its badge changes at once, the host's counts follow, without a reload.
    page.evaluate("window.__noReload = true")
    vm = vms[0]
    in_thread(set_state, vm, VMState.STOPPED)  # Playwright's loop owns this thread: broadcast from another
    card.locator("details summary").click()
    page.wait_for_function(f"document.querySelector('[data-vm-badge=\"{vm.uuid}\"]').dataset.state === 'stopped'")
    chips = f"document.querySelector('[data-host=\"{hosts[0].pk}\"] [data-role=by-state]')"
    page.wait_for_function(f"{chips}.textContent.includes('Stopped: 1')", timeout=10_000)
    assert page.evaluate("window.__noReload === true")

    # Vietnamese through the switch in the page.
    page.select_option("select[name=language]", "vi")
    with page.expect_navigation():
        page.locator("#language-form button").click()
    page.wait_for_function("document.documentElement.lang === 'vi'")
    assert "Toàn cụm" in page.locator("h1").inner_text()
    assert "Yêu cầu máy ảo" in page.locator("nav").inner_text()
    page.screenshot(path=str(output_dir / "11-fleet-vi.png"), full_page=True)

    # Phone: the layout stacks, nothing overflows sideways.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="vi-VN", is_mobile=True, storage_state=context.storage_state()
    )
    small = phone.new_page()
    small.goto(f"{web_server.url}/vms/")
    assert sideways_overflow(small) <= 0
    small.screenshot(path=str(output_dir / "12-vms-phone.png"), full_page=True)
    small.goto(f"{web_server.url}/request/")
    small.screenshot(path=str(output_dir / "13-request-phone.png"), full_page=True)


def test_browser_language_is_the_default(browser, web_server):
    get_user_model().objects.create_user("lan", "lan@example.org", PASSWORD)
    context = browser.new_context(locale="vi-VN", extra_http_headers={"Accept-Language": "vi,en;q=0.5"})
    page = context.new_page()
    page.goto(f"{web_server.url}/login/")
    assert "Đăng nhập" in page.locator("h1").inner_text()
