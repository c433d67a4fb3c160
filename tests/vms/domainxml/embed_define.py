"""Define and start an adapted son.xml with libvirt's embedded QEMU driver (no daemon).

Run by test_embed_define.py in a subprocess: the embedded driver needs a process-wide event
loop, which must not leak into the test process. Prints the adjustments, then 'running'.
Usage: embed_define.py ROOT_DIR SON_XML
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import libvirt

from vms.domainxml import Domain, adapt
from vms.domainxml.hostcaps import HostFacts, domain_caps_fetcher, quiet_libvirt_errors


def main(root: Path, son_path: Path) -> int:
    quiet_libvirt_errors()
    (root / "etc").mkdir(parents=True, exist_ok=True)
    # No virtlogd here: QEMU's output goes to a plain file instead.
    (root / "etc" / "qemu.conf").write_text(
        'user = "root"\ngroup = "root"\nstdio_handler = "file"\nsecurity_driver = "none"\nnamespaces = []\n'
    )
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)], daemon=True).start()
    conn = libvirt.open(f"qemu:///embed?root={root}")
    son = Domain.from_xml(son_path.read_bytes())
    son.name = f"dx-embed-{os.getpid()}"
    son.uuid = None
    son.ensure_uuid()
    son.memory = son.current_memory = "256MiB"
    image = root / "son.img"
    image.write_bytes(b"")
    os.truncate(image, 1 << 20)
    son.devices.disks[0].source_file = str(image)
    facts = HostFacts(conn.getCapabilities(), bridges=set(), networks=[])
    result = adapt(
        son,
        facts.capabilities_xml,
        domain_caps_fetcher(conn, facts),
        bridges=facts.bridges,
        networks=facts.networks,
        path_exists=os.path.exists,
        virt_types=("qemu",),
    )
    for line in result.adjustments:
        print(line)
    dom = conn.defineXMLFlags(result.xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    try:
        dom.create()
        time.sleep(1)
        state, _reason = dom.state()
        print("running" if state == libvirt.VIR_DOMAIN_RUNNING else f"state {state}")
        dom.destroy()
    finally:
        dom.undefine()
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
