"""Live vCPU and memory change of a running demo VM: click to done (the service call that queues the
`vm.update` job, to the job succeeded) against the bare libvirt call timed in the same run.

.venv/bin/python -m bench.resize
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import ROOT, percentile, setup_django, start_workers, stop, summary, write_section

ROUNDS = 8
VCPU_SAMPLES = 3


def main() -> None:
    load_at_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-resize-"))
    setup_django(ROOT / "var" / "bench-resize.sqlite3")
    import libvirt
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from jobs.choices import FINISHED, JobState
    from sandbox import bootstrap
    from sandbox.fleet import SandboxFleet
    from vms.choices import VMState
    from vms.hypervisor.connection import open_connection
    from vms.models import VirtualMachine
    from vms.services.vm_update import update_vm
    from vms.services.vms import VMOrder, create_vm, request_action

    queue = f"bench-{uuid.uuid4().hex[:6]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    admin = get_user_model().objects.create_superuser("bench", "b@example.org", "bench-password-1")
    fleet = SandboxFleet(settings.SANDBOX_DIR, first_index=settings.SANDBOX_FIRST_INDEX)
    hosts = bootstrap.register_sandbox_hosts(fleet.hosts(1))
    bootstrap.check_all(hosts)
    template = bootstrap.ensure_demo_template()  # live room: 2 vCPUs, 256 MiB
    workers = start_workers(1, queue, work, 2)
    made = []
    try:

        def new_vm():
            vm, job = create_vm(admin, VMOrder(template, f"bench-resize-{uuid.uuid4().hex[:4]}", 1, 128, 1))
            made.append(vm.pk)
            _wait(job, FINISHED, JobState)
            vm.refresh_from_db()
            if vm.state != VMState.RUNNING:
                raise SystemExit(f"the bench VM did not start: {job.error}")
            return vm

        def through_job(vm, field, value) -> float:
            vm.refresh_from_db()
            t0 = time.perf_counter()
            job = update_vm(admin, vm, {field: value})
            _wait(job, FINISHED, JobState)
            if job.state != JobState.SUCCEEDED or job.params.get("next_boot"):
                raise SystemExit(f"the resize was not live: {job.error or job.log}")
            return time.perf_counter() - t0

        ours = {"vcpus": [], "memory_mib": []}
        bare = {"vcpus": [], "memory_mib": []}
        live_and_config = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
        # vCPUs: hotplug only (QEMU's pc machine refuses to unplug a vCPU: that change waits for the next
        # boot), so each sample is a fresh VM growing from 1 to 2 vCPUs, ours and bare alternated.
        for _ in range(VCPU_SAMPLES):
            ours["vcpus"].append(through_job(new_vm(), "vcpus", 2))
            vm = new_vm()
            conn = open_connection(vm.host.uri)
            dom = conn.lookupByUUIDString(str(vm.uuid))
            t0 = time.perf_counter()
            dom.setVcpusFlags(2, live_and_config)
            bare["vcpus"].append(time.perf_counter() - t0)
            conn.close()
        # Memory: the balloon goes both ways on one VM.
        vm = new_vm()
        conn = open_connection(vm.host.uri)
        dom = conn.lookupByUUIDString(str(vm.uuid))
        for i in range(ROUNDS):
            ours["memory_mib"].append(through_job(vm, "memory_mib", (256, 128)[i % 2]))
        for i in range(ROUNDS):
            t0 = time.perf_counter()
            dom.setMemoryFlags((256, 128)[i % 2] * 1024, live_and_config)
            bare["memory_mib"].append(time.perf_counter() - t0)
        conn.close()
    finally:
        for pk in made:
            request_action(admin, VirtualMachine.objects.get(pk=pk), "delete")
        time.sleep(5)
        stop(workers)

    def row(field: str, label: str) -> str:
        ratio = percentile(ours[field], 50) / max(percentile(bare[field], 50), 1e-6)
        return (
            f"- {label}: click to done {summary(ours[field])}; bare libvirt call {summary(bare[field])}; "
            f"ratio of the medians {ratio:.0f}x"
        )

    body = f"""Command: `.venv/bin/python -m bench.resize` (part of `make bench`). Load average (1 min) of the
machine when it started: {load_at_start:.2f}.

Running demo VMs (TCG) on a sandbox host over `qemu+ssh`, one Celery worker, SQLite, within the template's
live maximum (2 vCPUs, 256 MiB) so every change is live. vCPUs: {VCPU_SAMPLES} fresh VMs grown from 1 to 2 by
a job and {VCPU_SAMPLES} by the bare call (QEMU's `pc` machine refuses to unplug a vCPU here: "acpi: device
unplug request for not supported device type", so a shrink is saved for the next boot and cannot be
repeated live). Memory: {ROUNDS} balloon changes by job, then {ROUNDS} bare, alternating 256/128 MiB on one VM.
"Click to done" is `update_vm` (validation, quota, the job queued) to the job succeeded; the bare call is
`setVcpusFlags` / `setMemoryFlags` with LIVE|CONFIG from this process on an open connection.

{row("vcpus", "vCPUs (hotplug)")}
{row("memory_mib", "memory (balloon)")}

Our overhead is Celery delivery, the job's committed step writes and broadcasts, the host slot and
reading the config back into the database; the libvirt work itself is the bare figure.
"""
    write_section("Live resize (issue 15)", body)
    print(body)


def _wait(job, finished, _states, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.state in finished:
            return
        time.sleep(0.02)
    raise SystemExit(f"job {job.pk} did not finish in {timeout} s")


if __name__ == "__main__":
    main()
