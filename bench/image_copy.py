"""Image copy throughput: our copy path (a libvirt upload stream) over qemu+ssh and qemu+tcp, against scp.

    .venv/bin/python -m bench.image_copy        (BENCH_COPY_MIB=256 and BENCH_COPY_ROUNDS=3 by default)

One file of random bytes (made once under var/bench/, so compression or sparseness cannot flatter any
path) goes to the first sandbox host three ways, alternated round by round so that a slow spell of
this shared machine hits every path alike:
- `storage.upload_file` on `open_connection(host.uri)`: what an image copy job does (qemu+ssh, through
  the ssh program with the project's key and pinned host key: vms/hypervisor/ssh.py);
- the same call on `open_connection(host.tcp_uri)`: the unencrypted transport, for comparison;
- `scp` with the same key and known_hosts into the host's pool directory (its sshd runs in the host's
  mount namespace, so /var/lib/libvirt/images there is the pool's directory), the same ssh program
  and cipher as our path.
Every copy lands in the pool under a bench- name and is deleted before the next round and at the end.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, write_section

SIZE_MIB = int(os.environ.get("BENCH_COPY_MIB", "256"))
ROUNDS = int(os.environ.get("BENCH_COPY_ROUNDS", "3"))
SOURCE = ROOT / "var" / "bench" / f"copy-{SIZE_MIB}MiB.bin"
VOLUMES = {"ssh": "bench-copy-ssh", "tcp": "bench-copy-tcp", "scp": "bench-scp"}


def _source_file() -> Path:
    """The random file, made once: regenerating 256 MiB of urandom every run would cost seconds."""
    if SOURCE.exists() and SOURCE.stat().st_size == SIZE_MIB << 20:
        return SOURCE
    SOURCE.parent.mkdir(parents=True, exist_ok=True)
    tmp = SOURCE.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        for _ in range(SIZE_MIB):
            fh.write(os.urandom(1 << 20))
    tmp.replace(SOURCE)
    return SOURCE


def _delete_bench_volumes(conn, pool_name: str) -> None:
    from vms.hypervisor.storage import find_volume, refresh_pool

    pool = conn.storagePoolLookupByName(pool_name)
    refresh_pool(pool)  # scp's file is not a volume until the pool is refreshed
    for name in VOLUMES.values():
        vol = find_volume(pool, name)
        if vol is not None:
            vol.delete(0)


def main() -> None:
    load_at_start = os.getloadavg()[0]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()  # settings and the SSH identity (vms app ready); no database is touched
    from django.conf import settings

    from sandbox.fleet import POOL_NAME, POOL_PATH, SandboxFleet
    from vms.hypervisor import ssh
    from vms.hypervisor.connection import open_connection
    from vms.hypervisor.storage import upload_file

    identity = ssh.identity()
    if identity is None:
        raise SystemExit("no SSH identity (var/ssh): run `make fleet` first")
    fleet = SandboxFleet(settings.SANDBOX_DIR, first_index=settings.SANDBOX_FIRST_INDEX)
    host = fleet.host(1)
    source = _source_file()
    conns = {"ssh": open_connection(host.uri), "tcp": open_connection(host.tcp_uri)}

    def scp(way: str) -> list[str]:
        return [
            "scp",
            "-q",
            # The original scp protocol: OpenSSH 9's scp speaks SFTP by default, and the sandbox hosts'
            # sshd offers no sftp subsystem (nothing in the product needs one).
            "-O",
            "-i",
            str(identity.key_file),
            "-o",
            f"UserKnownHostsFile={identity.known_hosts}",
            "-o",
            "BatchMode=yes",
            str(source),
            f"root@{host.address}:{POOL_PATH}/{VOLUMES[way]}",
        ]

    def copy(way: str) -> None:
        if way.startswith("scp"):
            subprocess.run(scp(way), check=True, timeout=300)
        else:
            upload_file(conns[way], POOL_NAME, VOLUMES[way], source)

    seconds: dict[str, list[float]] = {way: [] for way in VOLUMES}
    try:
        _delete_bench_volumes(conns["tcp"], POOL_NAME)
        for _round in range(ROUNDS):
            for way in seconds:
                t0 = time.perf_counter()
                copy(way)
                seconds[way].append(time.perf_counter() - t0)
                # Each copy starts from no file at the target, as a first copy to a host does.
                _delete_bench_volumes(conns["tcp"], POOL_NAME)
    finally:
        try:
            _delete_bench_volumes(conns["tcp"], POOL_NAME)
        finally:
            for conn in conns.values():
                conn.close()

    def rates(way: str) -> list[float]:
        return [SIZE_MIB / s for s in seconds[way]]

    def row(way: str, label: str) -> str:
        r = rates(way)
        return (
            f"| {label} | {statistics.median(r):.0f} | {min(r):.0f} | {max(r):.0f} | "
            f"{statistics.median(seconds[way]):.2f} | {len(r)} |"
        )

    ratio = statistics.median(rates("ssh")) / statistics.median(rates("scp"))
    cpus = os.cpu_count()
    body = f"""Command: `.venv/bin/python -m bench.image_copy` (part of `make bench`). Load average (1 min) of the
machine when it started: {load_at_start:.2f} ({cpus} cores shared with other sessions' work; figures move with it).

One {SIZE_MIB} MiB file of random bytes (`var/bench/`, made once) copied to {host.name} ({host.address}, its own
network namespace; the bytes cross a veth pair, so this measures the transports' CPU cost, not a
wire) {ROUNDS} times each way, the ways alternated round by round. Each copy starts with no file at the
target (the previous one is deleted, untimed). Time = the whole call: for our path
`storage.upload_file` (pool refresh, volume create with full allocation, stream upload in
1 MiB chunks, finish), for scp the whole process (connect, authenticate, copy).

| way | MiB/s median | min | max | seconds median | n |
|---|---|---|---|---|---|
{row("ssh", "libvirt upload stream over `qemu+ssh` (what image copies use)")}
{row("tcp", "libvirt upload stream over `qemu+tcp` (no encryption)")}
{row("scp", "`scp -O -i var/ssh/id_ed25519` into the pool directory (chacha20-poly1305)")}

- our copy path over SSH runs at {ratio:.2f}x scp's rate (medians).

Where the time goes: on both SSH paths every byte is encrypted by the client and decrypted by the
host's sshd, all on these 2 cores, so they measure CPU, not a link. Our path also has one more relay:
the host's sshd hands the bytes to virt-ssh-helper, which writes them to libvirtd's socket, and
libvirtd writes the volume; scp's own process on the host writes the file directly. Both use the same
ssh program and cipher. Over `qemu+tcp` the
same stream has no encryption: that row is the ceiling of
libvirt's stream path here. An image is copied to each host once (one `ImageCopy` per image and host;
later VMs use the host's copy): at the SSH median a 2 GiB base image takes about
{2048 / statistics.median(rates("ssh")):.0f} s per host.
"""
    write_section("Image copy throughput (issue: hosts over SSH)", body)
    print(body)


if __name__ == "__main__":
    main()
