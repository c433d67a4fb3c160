"""A VM's domain XML for another host (a live migration's destination XML, or the definition an
offline move makes there): the same VM, same name, UUID, MACs and display passwords; only what is a
property of the host changes. See docs/migration.md.

- every disk and CD-ROM file the move copies points at its place on the new host (`paths`: old path ->
  new path; a file not named stays where it is, the same path on the new host: shared ISOs);
- displays listen where the new host's displays are reached (vms.hypervisor.graphics.listen_address_for).
"""

from __future__ import annotations

from vms.domainxml import Domain
from vms.domainxml.vm import listen_displays_on


def file_sources(xml: str) -> list[dict]:
    """Every disk and CD-ROM that names a file: [{target, path, device, format, readonly}], in order."""
    dom = Domain.from_xml(xml)
    found = []
    for disk in dom.devices.disks:
        if disk.type == "file" and disk.source_file:
            found.append(
                {
                    "target": disk.target_dev,
                    "path": disk.source_file,
                    "device": disk.device,
                    "format": disk.driver_type or "raw",
                    "readonly": disk.device == "cdrom" or bool(disk.readonly),
                }
            )
    return found


def moved_domain(xml: str, paths: dict[str, str], display_listen: str | None) -> Domain:
    dom = Domain.from_xml(xml)
    for disk in dom.devices.disks:
        if disk.source_file and disk.source_file in paths:
            disk.source_file = paths[disk.source_file]
    if display_listen is not None:
        listen_displays_on(dom, display_listen)
    return dom
