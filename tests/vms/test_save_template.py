"""Save as template on the sandbox, with a real worker: a stopped VM's disk (a marker written on it)
becomes a base image and a template; a new VM of that template boots and reads the marker from its
own disk, an overlay on the image. The image is checked and recorded like an upload."""

from __future__ import annotations

import hashlib

import pytest

from tests.support.guest import has_disk, on_console
from tests.support.vm_api import create_vm as make_vm
from tests.support.vm_api import job_done
from vms.choices import CopyState, DiskSource, VMState
from vms.models import Image, VirtualMachine, VMTemplate

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MARK = "saved-as-tpl-9"
WRITE = f"echo {MARK} | dd of=/dev/vda conv=fsync 2>/dev/null; echo W-$((20+1))"
READ_BACK = "echo R:$(dd if=/dev/vda bs=16 count=1 2>/dev/null | tr -d '\\000'):E$((1+1))"


def test_a_saved_vm_becomes_a_template_whose_new_vms_start_from_its_disk(
    request, api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    host = fleet_hosts[0]
    source = make_vm(api, demo_template, "tpl-src", vm_worker, host=host.pk)
    assert has_disk(source)
    assert "W-21" in on_console(source, WRITE, "W-21")
    job_done(api.post(f"/api/v1/vms/{source.pk}/actions/force-off/"), vm_worker)

    job = job_done(
        api.post(f"/api/v1/vms/{source.pk}/save-as-template/", {"name": "Saved demo"}, format="json"), vm_worker, 240
    )

    template = VMTemplate.objects.get(name="Saved demo")
    image = Image.objects.get(name="Saved demo")
    request.addfinalizer(lambda: image.path.unlink(missing_ok=True))  # the library is the checkout's var/
    assert template.disk_source == DiskSource.OVERLAY and template.base_image == image.volume
    assert image.copies.get().host == host and image.copies.get().state == CopyState.READY
    assert hashlib.sha256(image.path.read_bytes()).hexdigest() == image.sha256
    assert source.uuid.hex not in template.domain_xml.replace("-", ""), "the VM's identity is not in the template"
    assert any("is ready" in entry["message"] for entry in job.log)
    source.refresh_from_db()
    assert source.state == VMState.STOPPED

    child = make_vm(api, template, "from-saved", vm_worker, host=host.pk)
    assert child.state == VMState.RUNNING
    assert has_disk(child)
    assert f"R:{MARK}:E2" in on_console(child, READ_BACK, ":E2"), "the new VM's disk starts as the saved one"
    assert VirtualMachine.objects.filter(template=template).count() == 1
