"""A template previewed on a host: the domain XML a VM from it would get there, and what was changed to fit.

This is the part of the templates that talks to libvirt; pages and the API call it only on an explicit
request, never while rendering a list. The template services are in `vms.services.templates`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from vms.choices import DiskSource
from vms.domainxml import Domain, DomainXMLError
from vms.domainxml.hostcaps import adapt_to_connection
from vms.domainxml.template import POOL
from vms.domainxml.vm import VMSpec, build_vm_domain, without_display_passwords
from vms.hypervisor.connection import connection
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.hostinfo import pool_target_path
from vms.hypervisor.volumes import disk_volume_name
from vms.models import Host, VMTemplate
from vms.services.placement import pool_of

# The UUID and name a preview uses: a placeholder, never the UUID of a real VM.
PREVIEW_UUID = "00000000-0000-4000-8000-00000000feed"
PREVIEW_NAME = "template-preview"


def _pool_path(conn, pool: str = POOL) -> str:  # noqa: ANN001
    import libvirt

    try:
        return pool_target_path(conn.storagePoolLookupByName(pool)) or "/var/lib/libvirt/images"
    except libvirt.libvirtError:
        return "/var/lib/libvirt/images"


def volume_notes(dom: Domain, conn) -> list[str]:  # noqa: ANN001
    """Volumes the domain names in a pool that the host does not have: CD-ROMs are emptied, disks reported."""
    import libvirt

    notes = []
    for disk in dom.devices.disks:
        if disk.type != "volume" or not disk.source_pool or not disk.source_volume:
            continue
        try:
            conn.storagePoolLookupByName(disk.source_pool).storageVolLookupByName(disk.source_volume)
            continue
        except libvirt.libvirtError:
            pass
        if disk.removable:
            disk.eject()
            notes.append(
                _(
                    "The ISO '%(vol)s' is not on this host yet (copy it from the Images page); the CD-ROM "
                    "drive %(dev)s is left empty."
                )
                % {"vol": disk.source_volume, "dev": disk.target_dev}
            )
        else:
            notes.append(
                _("The volume '%(vol)s' (%(dev)s) is not on this host.")
                % {"vol": disk.source_volume, "dev": disk.target_dev}
            )
    return notes


def sample_spec(template: VMTemplate, pool_path: str) -> VMSpec:
    disk_path = None
    if template.disk_source != DiskSource.NONE:
        disk_path = f"{pool_path.rstrip('/')}/{disk_volume_name(PREVIEW_UUID, 0, template.disk_format)}"
    return VMSpec(
        PREVIEW_UUID,
        PREVIEW_NAME,
        template.default_vcpus,
        template.default_memory_mib,
        disk_path,
        template.disk_format,
        "",
    )


def preview(template: VMTemplate, host: Host) -> tuple[str, list[str]]:
    """The domain XML a VM from this template would get on `host`, and each change made to fit the host.

    Talks to the host: call it on an explicit request, never while rendering a list.
    """
    try:
        with connection(host.uri) as conn:
            spec = sample_spec(template, _pool_path(conn, pool_of(template)))
            dom = build_vm_domain(template.domain_xml, spec)
            notes = []
            if template.disk_source in (DiskSource.OVERLAY, DiskSource.COPY) and template.base_image:
                import libvirt

                try:
                    conn.storagePoolLookupByName(POOL).storageVolLookupByName(template.base_image)
                except libvirt.libvirtError:
                    notes.append(
                        _(
                            "The base image '%(vol)s' is not on this host yet; copy it there from the Images "
                            "page before creating VMs here."
                        )
                        % {"vol": template.base_image}
                    )
            notes += volume_notes(dom, conn)
            result = adapt_to_connection(dom, conn, virt_types=host.virt_types)
    except HypervisorError as exc:
        raise ValidationError({"host": str(exc)}) from None
    except DomainXMLError as exc:
        raise ValidationError(
            {"host": _("This template cannot run on %(host)s: %(why)s") % {"host": host.name, "why": exc}}
        ) from None
    adjustments = [a for a in result.adjustments if not (spec.disk_path and spec.disk_path in a)]
    if spec.disk_path:
        notes.append(
            _("Each VM gets its own %(fmt)s disk volume in the '%(pool)s' pool, made when the VM is created (%(how)s).")
            % {"fmt": template.disk_format, "pool": pool_of(template), "how": DiskSource(template.disk_source).label}
        )
    if template.cloud_init:
        notes.append(_("A cloud-init seed CD-ROM (label cidata) is attached to each VM when it is created."))
    # Each VM gets a random display password of its own; the preview's would mean nothing to anyone.
    return without_display_passwords(result.xml), adjustments + notes
