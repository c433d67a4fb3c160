"""A VM tab catches up with a job that finished unseen: between the page being made and its socket
opening, nobody is there to hear the job's last message. The page was made showing the job unfinished,
so when the socket opens it re-reads the job list and the parts that jobs change (static/js/vm_detail.js,
ui.refreshOnJobs). No host and no worker: the job's end is written straight into the database while the
browser holds the page it was given, the way a fast job beats a slow socket."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from jobs.choices import JobState
from jobs.models import Job
from tests.browser.support import PASSWORD, log_in
from tests.support.people import fake_host
from vms.choices import VMChange, VMState
from vms.models import VirtualMachine

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = "#interfaces tbody tr[data-mac]"


def _xml(*macs: str) -> str:
    nics = "".join(
        f"<interface type='network'><mac address='{mac}'/><source network='default'/><model type='virtio'/></interface>"
        for mac in macs
    )
    return f"<domain type='kvm'><name>catch-up</name><devices>{nics}</devices></domain>"


def test_the_network_tab_catches_up_with_a_job_that_ended_before_its_socket_opened(browser, web_server):
    admin = get_user_model().objects.create_superuser("catchup", "c@example.org", PASSWORD)
    vm = VirtualMachine.objects.create(
        name="catch-up", host=fake_host(), owner=admin, state=VMState.RUNNING, domain_xml=_xml("52:54:00:aa:00:01")
    )
    job = Job.objects.create(
        kind=f"vm.{VMChange.INTERFACE_ADD}", target=f"vms.virtualmachine:{vm.pk}", state=JobState.QUEUED
    )
    page = log_in(browser, web_server.url, "catchup")
    url = f"{web_server.url}/vms/{vm.uuid}/network/"
    ended = []

    def late_script(route):
        # The page is made (one NIC, the job queued) and its scripts asked for; before the one that opens
        # the VM socket arrives, the job ends and no one is told.
        if not ended:
            VirtualMachine.objects.filter(pk=vm.pk).update(domain_xml=_xml("52:54:00:aa:00:01", "52:54:00:aa:00:02"))
            Job.objects.filter(pk=job.pk).update(state=JobState.SUCCEEDED, progress=100)
            ended.append(True)
        route.continue_()

    page.route("**/static/js/vm_detail.js", late_script)
    with page.expect_response(url) as made:
        page.goto(url)
    assert ended
    assert made.value.text().count('data-mac="52:54:00:aa:00:0') == 1, "the page was made before the job ended"
    page.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 2", timeout=20_000)
    page.wait_for_selector(f'#jobs li[data-job="{job.pk}"] [data-state="succeeded"]', timeout=20_000)
