"""Typing at the demo guest's shell over its serial console (libvirt's console stream, as the
dashboard's own console uses), for tests that check what the guest sees."""

from __future__ import annotations

from vms.hypervisor.connection import open_connection
from vms.hypervisor.console import ConsoleSession
from vms.models import VirtualMachine


def on_console(vm: VirtualMachine, command: str, answer: str, timeout: float = 60) -> str:
    """Type `command` at the guest's shell (after its prompt) and return the output up to `answer`."""
    conn = open_connection(vm.host.uri)
    try:
        console = ConsoleSession(conn, conn.lookupByUUIDString(str(vm.uuid)))
        try:
            console.write("\n")
            console.read_until("root@demo-guest", timeout=timeout)
            mark = len(console.buffer)
            console.write(command + "\n")
            return console.read_until(answer, timeout=30, start=mark)
        finally:
            console.close()
    finally:
        conn.close()


def has_disk(vm: VirtualMachine, device: str = "/dev/vda") -> bool:
    """Whether the guest sees `device` as a block device (a write to a missing one would make a file in
    its RAM-backed /dev, which a test must never take for the disk)."""
    answer = on_console(vm, f"echo D:$([ -b {device} ] && echo block || echo none):E$((1+1))", ":E2")
    return "D:block:E2" in answer
