"""Living with a VM: time from the API call to the job done, for the changes a user makes most, each
against the bare libvirt call that does the same on the same host, in the same run.

.venv/bin/python -m bench.vm_changes

One running demo VM on sandbox host 1 (qemu+ssh), one Celery worker. "Ours" is the API request
(Django's test client in this process: validation, quota, the job row, the audit entry) until the job
is done (Celery delivery, the host connection from the worker's pool, the libvirt call, the domain XML
read back and stored, the job's own database writes). "Bare" is the libvirt call alone on an open
connection, the least any tool can do. Rounds alternate ours and bare so that load drifts hit both.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import uuid
from pathlib import Path

import libvirt
from lxml import etree

from bench.common import ROOT, percentile, setup_django, start_workers, stop, write_section

ROUNDS = 5
JOB_TIMEOUT = 120


def main() -> None:
    load_at_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-vm-changes-"))
    setup_django(ROOT / "var" / "bench-vm-changes.sqlite3")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from sandbox import bootstrap
    from sandbox.fleet import SandboxFleet

    queue = f"bench-{uuid.uuid4().hex[:6]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    admin = get_user_model().objects.create_superuser("bench", "b@example.org", "bench-password-1")
    fleet = SandboxFleet(settings.SANDBOX_DIR, first_index=settings.SANDBOX_FIRST_INDEX)
    sandbox_host = fleet.hosts(1)[0]
    (host,) = bootstrap.register_sandbox_hosts([sandbox_host])
    bootstrap.check_all([host])
    template = bootstrap.ensure_demo_template()
    template.snapshot_limit = 4 * ROUNDS + 2  # both sides' snapshots of every round, and the base
    template.save(update_fields=["snapshot_limit"])
    api = APIClient()
    api.force_authenticate(admin)
    from vms.hypervisor.connection import open_connection

    # Through the project's SSH key and known_hosts, as the workers; opened before the workers start,
    # so that a host that does not answer leaves no worker behind.
    conn = open_connection(sandbox_host.uri)
    workers = start_workers(1, queue, work, 2)
    try:
        vm = _running_vm(api, template, host)
        dom = conn.lookupByUUIDString(str(vm.uuid))
        iso = _published_iso(admin, host)
        results = {
            "snapshot create (running, with memory)": _snapshots(api, vm, dom),
            "snapshot revert (to a running snapshot)": _reverts(api, vm, dom),
            "live vCPU change (1 -> 2)": _vcpus(api, vm, dom),
            "live memory change (balloon)": _memory(api, vm, dom),
            "disk attach (new 1 GiB volume, live)": _disks(api, vm, dom, conn),
            "ISO insert (already on the host)": _isos(api, vm, dom, iso),
        }
    finally:
        conn.close()
        stop(workers)
    rows = "\n".join(
        f"| {what} | {percentile(ours, 50) * 1000:.0f} | {percentile(bare, 50) * 1000:.0f} | "
        f"{(percentile(ours, 50) - percentile(bare, 50)) * 1000:.0f} | "
        f"{percentile(ours, 50) / percentile(bare, 50):.1f}x | {max(ours) * 1000:.0f} / {max(bare) * 1000:.0f} |"
        for what, (ours, bare) in results.items()
    )
    body = f"""Command: `.venv/bin/python -m bench.vm_changes` (part of `make bench`). Load average (1 min) when it
started: {load_at_start:.2f}. {ROUNDS} rounds of each, ours and bare alternated, one running demo VM
(QEMU TCG) on sandbox host 1 over `qemu+ssh`, one Celery worker (concurrency 2), SQLite, local Redis.

"Ours" = from the API call (`POST`/`PATCH` on `/api/v1/vms/{{id}}/...`, validation, quota, job row, audit)
to the job done (Celery delivery, the worker's pooled connection, the libvirt call, the domain XML read
back and stored, the job's own writes). "Bare" = the same libvirt call alone on an open connection.

| change | ours p50 (ms) | bare p50 (ms) | ours - bare (ms) | ours / bare | max ours / bare (ms) |
|---|---|---|---|---|---|
{rows}

What we add is about the same for every change, a few hundred ms: the job row and its committed
step writes (each with a broadcast to the page), Celery delivery to the worker, the host slot, and
reading the domain's saved XML back into the database. The ratio is large where libvirt's own call
is a few ms (a balloon target, a vCPU hot-plug) and near 1 where QEMU's work dominates (a revert
restores the guest's memory). Live vCPUs: QEMU's `pc` machine cannot unplug a vCPU, so between
rounds the VM is put back to 1 vCPU by a cold restart (untimed).
"""
    write_section("Living with a VM: changes, ours vs bare libvirt (issue: living with a VM)", body)
    print(body)


def _wait_job(job_id: int) -> None:
    from jobs.models import Job

    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.state == "succeeded":
            return
        if job.state in ("failed", "cancelled"):
            raise SystemExit(f"job {job.kind} #{job.pk} {job.state}: {job.error}")
        time.sleep(0.01)
    raise SystemExit(f"job #{job_id} not done in {JOB_TIMEOUT} s")


def _ours(api, method: str, path: str, data: dict | None = None) -> float:
    """Seconds from the API call to its job done."""
    t0 = time.monotonic()
    response = getattr(api, method)(path, data or {}, format="json")
    if response.status_code != 202:
        raise SystemExit(f"{method.upper()} {path}: {response.status_code} {response.content[:300]!r}")
    _wait_job(response.json()["id"])
    return time.monotonic() - t0


def _bare(call) -> float:
    t0 = time.monotonic()
    call()
    return time.monotonic() - t0


def _running_vm(api, template, host):
    from vms.models import VirtualMachine

    name = f"bench-changes-{uuid.uuid4().hex[:4]}"
    response = api.post(
        "/api/v1/vms/", {"template": template.pk, "name": name, "vcpus": 1, "memory_mib": 128, "host": host.pk}
    )
    if response.status_code != 202:
        raise SystemExit(f"create: {response.status_code} {response.content[:300]!r}")
    _wait_job(response.json()["job"]["id"])
    return VirtualMachine.objects.get(name=name)


def _published_iso(admin, host):
    """A small ISO in the image library, published and already copied to the host (the copy is not timed)."""
    import pycdlib

    from vms.services.images import create_image

    data = b"bench\n" * 1000
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident="BENCH")
    iso.add_fp(io.BytesIO(data), len(data), "/BENCH.TXT;1")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    out.seek(0)
    out.name = "bench.iso"
    image, jobs = create_image(
        name=f"bench-{uuid.uuid4().hex[:4]}", kind="iso", format="iso", file=out, user=admin, hosts=[host]
    )
    for job in jobs:
        _wait_job(job.pk)
    image.published = True
    image.save(update_fields=["published"])
    return image


def _snapshots(api, vm, dom):
    ours, bare = [], []
    for i in range(ROUNDS):
        ours.append(_ours(api, "post", f"/api/v1/vms/{vm.pk}/snapshots/", {"name": f"ours-{i}"}))
        xml = f"<domainsnapshot><name>bare-{i}</name></domainsnapshot>"
        bare.append(_bare(lambda xml=xml: dom.snapshotCreateXML(xml, 0)))
    return ours, bare


def _reverts(api, vm, dom):
    ours, bare = [], []
    target = dom.snapshotLookupByName("ours-0")
    for _i in range(ROUNDS):
        ours.append(_ours(api, "post", f"/api/v1/vms/{vm.pk}/snapshots/ours-0/revert/"))
        bare.append(_bare(lambda: dom.revertToSnapshot(target, libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING)))
    return ours, bare


def _vcpus(api, vm, dom):
    """1 -> 2 vCPUs live (the demo template's live maximum). QEMU's `pc` machine cannot unplug a vCPU,
    so between changes the VM is put back to 1 vCPU, untimed, by a cold restart of its domain."""
    from vms.models import VirtualMachine

    live_config = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG

    def back_to_one():
        dom.setVcpusFlags(1, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        dom.destroy()
        dom.create()
        VirtualMachine.objects.filter(pk=vm.pk).update(vcpus=1)

    ours, bare = [], []
    for _i in range(ROUNDS):
        ours.append(_ours(api, "patch", f"/api/v1/vms/{vm.pk}/", {"vcpus": 2}))
        back_to_one()
        bare.append(_bare(lambda: dom.setVcpusFlags(2, live_config)))
        back_to_one()
    return ours, bare


def _memory(api, vm, dom):
    live = libvirt.VIR_DOMAIN_AFFECT_LIVE
    ours, bare = [], []
    for i in range(ROUNDS):
        mib = 160 if i % 2 == 0 else 128
        ours.append(_ours(api, "patch", f"/api/v1/vms/{vm.pk}/", {"memory_mib": mib}))
        bare.append(_bare(lambda mib=mib: dom.setMemoryFlags((mib + 16) * 1024, live)))
    return ours, bare


def _free_target(dom) -> str:
    used = set(etree.fromstring(dom.XMLDesc(0)).xpath("//devices/disk/target/@dev"))
    return next(f"vd{c}" for c in "bcdefghijklmnop" if f"vd{c}" not in used)


def _disks(api, vm, dom, conn):
    pool = conn.storagePoolLookupByName("default")
    live_config = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
    ours, bare = [], []
    for i in range(ROUNDS):
        ours.append(_ours(api, "post", f"/api/v1/vms/{vm.pk}/disks/", {"size_gib": 1, "bus": "virtio"}))
        name = f"bench-bare-{uuid.uuid4().hex[:6]}-{i}.qcow2"

        def attach(name=name):
            vol = pool.createXML(
                f"<volume><name>{name}</name><capacity unit='GiB'>1</capacity>"
                "<target><format type='qcow2'/></target></volume>",
                0,
            )
            disk = (
                f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{vol.path()}'/>"
                f"<target dev='{_free_target(dom)}' bus='virtio'/></disk>"
            )
            dom.attachDeviceFlags(disk, live_config)

        bare.append(_bare(attach))
    return ours, bare


def _cdrom_target(dom) -> str:
    targets = etree.fromstring(dom.XMLDesc(0)).xpath("//devices/disk[@device='cdrom']/target")
    if targets:
        return targets[0].get("dev"), targets[0].get("bus")
    # The demo template has no CD-ROM drive: give the VM one (untimed set-up; a drive is added cold).
    dom.destroy()
    drive = (
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
        "<target dev='sda' bus='sata'/><readonly/></disk>"
    )
    dom.attachDeviceFlags(drive, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    dom.create()
    from vms.domainxml.vm import without_display_passwords
    from vms.models import VirtualMachine

    VirtualMachine.objects.filter(uuid=dom.UUIDString()).update(
        domain_xml=without_display_passwords(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    )
    return "sda", "sata"


def _isos(api, vm, dom, image):
    from vms.models import ImageCopy

    volume = (
        dom.connect()
        .storagePoolLookupByName("default")
        .storageVolLookupByName(ImageCopy.objects.get(image=image, host=vm.host).volume)
    )
    live_config = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
    target, bus = _cdrom_target(dom)
    ours, bare = [], []
    for _i in range(ROUNDS):
        ours.append(_ours(api, "post", f"/api/v1/vms/{vm.pk}/cdrom/", {"image": image.pk}))
        ejected = api.delete(f"/api/v1/vms/{vm.pk}/cdrom/")  # untimed
        _wait_job(ejected.json()["id"])
        disk = (
            f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{volume.path()}'/>"
            f"<target dev='{target}' bus='{bus}'/><readonly/></disk>"
        )
        bare.append(_bare(lambda disk=disk: dom.updateDeviceFlags(disk, live_config)))
        empty = f"<disk type='file' device='cdrom'><target dev='{target}' bus='{bus}'/><readonly/></disk>"
        dom.updateDeviceFlags(empty, live_config)
    return ours, bare


if __name__ == "__main__":
    main()
