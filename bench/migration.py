"""Live migration of the demo VM between two sandbox hosts: our code path against bare `virsh migrate`.

    .venv/bin/python -m bench.migration        (BENCH_MIGRATION_ROUNDS=4 by default)

One running demo guest (128 MiB, a 1 GiB sparse qcow2 disk, the demo template's shape) goes back and
forth between sandbox hosts 1 and 2, without shared storage, the two ways alternated so that a slow
spell of this shared machine hits both alike:
- ours: what the `vm.migrate` job does on its "check", "transfer", "switch" and "cleanup" steps
  (vms/runners/moves.py: `plan`, `moved_domain`, `migrate_live`, autostart, the old disk deleted) over
  the qemu+ssh connections the dashboard uses; the job's database writes are not in it;
- bare: `virsh migrate --live --persistent --undefinesource --copy-storage-all --migrateuri tcp://ADDR`
  over the same SSH transport, then the old disk deleted (virsh leaves it), untimed.
Total = wall clock of the call; downtime = libvirt's own figure for the completed migration (the guest
paused at the switch). The last line printed is the figures as JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid

from bench.common import ROOT, percentile, write_section

ROUNDS = int(os.environ.get("BENCH_MIGRATION_ROUNDS", "4"))
NAME = "bench-migrate"


def main() -> None:
    load_at_start = os.getloadavg()[0]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()  # settings and the SSH identity; no database is touched
    import libvirt
    from django.conf import settings

    from sandbox.demo_domain import demo_domain_xml
    from sandbox.fleet import POOL_NAME, SandboxFleet
    from vms.domainxml.move import moved_domain
    from vms.hypervisor import domains, ssh
    from vms.hypervisor.connection import open_connection
    from vms.hypervisor.migration import migrate_live
    from vms.hypervisor.resize import set_autostart
    from vms.hypervisor.volumes import delete_volume_at, delete_volumes_of, ensure_disk
    from vms.runners.moves import plan

    fleet = SandboxFleet(settings.SANDBOX_DIR, first_index=settings.SANDBOX_FIRST_INDEX)
    hosts = [fleet.host(1), fleet.host(2)]
    conns = [open_connection(h.uri) for h in hosts]
    identity = ssh.identity()
    vm_uuid = str(uuid.uuid4())

    def ours(src: int, dst: int) -> tuple[float, int | None]:
        dom = conns[src].lookupByUUIDString(vm_uuid)
        started = time.perf_counter()
        flags = libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_MIGRATABLE
        transfers = plan(domains.saved_xml(dom), conns[src], conns[dst])
        mapping = {t.source_path: t.target_path for t in transfers}
        result = migrate_live(
            dom,
            conns[dst],
            target_uri=hosts[dst].uri,
            dest_xml=moved_domain(dom.XMLDesc(flags), mapping, None).to_xml(),
            persist_xml=moved_domain(dom.XMLDesc(flags | libvirt.VIR_DOMAIN_XML_INACTIVE), mapping, None).to_xml(),
            on_progress=lambda _p: None,
            should_cancel=lambda: False,
        )
        set_autostart(result.domain, False)
        for transfer in transfers:
            if transfer.writable:
                delete_volume_at(conns[src], transfer.source_path)
        return time.perf_counter() - started, result.downtime_ms

    def bare(src: int, dst: int) -> tuple[float, int | None]:
        uris = [ssh.transport_uri(h.uri, identity) for h in hosts]
        started = time.perf_counter()
        moved = subprocess.run(
            ["virsh", "-c", uris[src], "migrate", "--live", "--persistent", "--undefinesource",
             "--copy-storage-all", "--migrateuri", f"tcp://{hosts[dst].address}", "--domain", NAME,
             "--desturi", uris[dst]],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        if moved.returncode != 0:
            raise SystemExit(f"virsh migrate failed: {moved.stderr.strip()}")
        info = subprocess.run(
            ["virsh", "-c", uris[dst], "domjobinfo", "--completed", NAME],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if info.returncode != 0:
            raise SystemExit(f"virsh domjobinfo failed: {info.stderr.strip()}")
        info = info.stdout
        downtime = next(
            (
                int(line.split(":")[1].split()[0])
                for line in info.splitlines()
                if "downtime" in line.lower() and "ms" in line
            ),
            None,
        )
        delete_volumes_of(conns[src], POOL_NAME, vm_uuid)
        return seconds, downtime

    figures: dict[str, list[tuple[float, int | None]]] = {"ours": [], "bare": []}
    try:
        path = ensure_disk(conns[0], POOL_NAME, f"{vm_uuid}-disk0.qcow2", 1, "qcow2")
        dom = conns[0].defineXML(demo_domain_xml(NAME, vm_uuid, "console=ttyS0", disk_path=path))
        dom.create()
        time.sleep(3)  # booted to its shell
        here = 0
        for _round in range(ROUNDS):
            for way, run in (("ours", ours), ("bare", bare)):
                figures[way].append(run(here, 1 - here))
                here = 1 - here
    finally:
        for conn in conns:
            dom = domains.find_by_uuid(conn, vm_uuid)
            if dom is not None:
                domains.force_off(dom)
                domains.undefine(dom)
            delete_volumes_of(conn, POOL_NAME, vm_uuid)
            conn.close()

    def stats(way: str) -> dict:
        totals = [s for s, _d in figures[way]]
        downs = [d for _s, d in figures[way] if d is not None]
        return {
            "total_p50_s": round(statistics.median(totals), 3),
            "total_max_s": round(max(totals), 3),
            "downtime_p50_ms": round(statistics.median(downs)) if downs else None,
            "downtime_p95_ms": round(percentile(downs, 95)) if downs else None,
        }

    ours_s, bare_s = stats("ours"), stats("bare")

    def row(label: str, s: dict) -> str:
        cells = [
            label,
            f"{s['total_p50_s']:.2f}",
            f"{s['total_max_s']:.2f}",
            s["downtime_p50_ms"],
            s["downtime_p95_ms"],
        ]
        return "| " + " | ".join(str(c) for c in cells) + " |"

    body = f"""Command: `.venv/bin/python -m bench.migration` (part of `make bench`). Load average
(1 min) of the machine when it started: {load_at_start:.2f} ({os.cpu_count()} cores shared with other sessions' work).

The demo guest (128 MiB, 1 GiB sparse qcow2 disk, TCG) moved live between {hosts[0].name} and {hosts[1].name}
without shared storage, {ROUNDS} times each way, alternated; both over qemu+ssh connections, the data
host to host over TCP (the disk by NBD mirror, then the memory).

| way | total p50 (s) | total max (s) | downtime p50 (ms) | downtime p95 (ms) |
|---|---|---|---|---|
{row("ours (the job's libvirt steps: plan, XML, migrate, old disk deleted)", ours_s)}
{row("bare `virsh migrate --live --copy-storage-all`", bare_s)}

- ours takes {ours_s["total_p50_s"] / bare_s["total_p50_s"]:.2f}x the bare tool's time (medians). What
  each includes: ours, reading both hosts' pools, the XML made for the new host, the migration, and
  deleting the old disk, on connections already open (as the worker's connection pool keeps them);
  the bare way, starting virsh and opening its two SSH connections, and the migration.
- The pause at the switch (downtime) is QEMU's, under libvirt's default limit, in both ways; the
  medians differ by {abs(ours_s["downtime_p50_ms"] - bare_s["downtime_p50_ms"])} ms in this run.
"""
    write_section("Live migration (issue 16)", body)
    print(body)
    print(json.dumps({"ours": ours_s, "bare": bare_s, "rounds": ROUNDS}))


if __name__ == "__main__":
    main()
