"""The save-as-template job (`vm.save-as-template`; vms/services/save_template.py queues it).

Steps: a standalone copy of the VM's system disk in its host's default pool, named as the image's
volume will be (so that host has the image at once); that copy brought to the dashboard's image
library through a libvirt stream, with progress; checked like an upload and recorded as a base image
(on that host: ready); the template made from the VM's saved XML. A failure removes what the job made:
the volume, the file, the image.
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.utils.text import slugify
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from jobs.errors import JobFailed, RetryRefused
from jobs.registry import register
from vms.choices import DiskFormat, DiskSource, VMChange, VMState
from vms.domainxml.clone import copied_disks
from vms.hypervisor import domains
from vms.hypervisor.connection import connection
from vms.hypervisor.volumes import copy_volume, delete_volume_at, download_volume, pool_path
from vms.models import Image, VMTemplate
from vms.runners.errors import host_errors
from vms.runners.vm import POOL, VMRunner, load_vm, on_host
from vms.services.images import images_dir, record_saved_disk
from vms.services.save_template import check_names
from vms.services.templates import import_template

GIB = 1024**3


def _stem(job) -> str:  # noqa: ANN001
    """The image's file and volume name: fixed by the job, so a resumed attempt finds what it made."""
    return f"image-saved{job.pk}-{slugify(job.params['name'])[:40] or 'disk'}.qcow2"


@register(f"vm.{VMChange.SAVE_AS_TEMPLATE}")
class SaveAsTemplate(VMRunner):
    label = _("Save as template")
    steps = [
        ("copy", _("Copy the system disk")),
        ("download", _("Bring it to the image library")),
        ("check", _("Check the image")),
        ("template", _("Make the template")),
    ]

    def check_retry(self, job, user) -> None:
        raise RetryRefused(_t("Save the VM as a template again from its page: the name is checked anew there."))

    def run(self, ctx) -> None:
        vm = load_vm(ctx.job)
        name = ctx.params["name"]
        try:
            check_names(name)
        except ValidationError as exc:
            raise JobFailed(" ".join(exc.messages)) from None
        stem = _stem(ctx.job)
        incoming = images_dir() / f".saving-{ctx.job.pk}"
        incoming.unlink(missing_ok=True)
        with on_host(ctx, vm) as conn:
            dom = domains.find_by_uuid(conn, str(vm.uuid))
            if dom is None:
                raise JobFailed(
                    _t("VM '%(name)s' is not defined on %(host)s any more.") % {"name": vm.name, "host": vm.host.name}
                )
            if domains.state_of(dom) not in (VMState.STOPPED, VMState.CRASHED):
                raise JobFailed(_t("VM '%(name)s' was started: stop it and save it again.") % {"name": vm.name})
            xml = domains.saved_xml(dom)
            disk = copied_disks(xml)[0]
            with ctx.step("copy"):
                # Standalone (a qcow2 overlay is read through its base), in the pool images live in.
                volume = copy_volume(conn, disk["path"], POOL, stem, "qcow2")
            with ctx.step("download"):
                sha256 = download_volume(
                    conn, volume, incoming, lambda done, total: ctx.progress(done / total if total else 1)
                )
        with ctx.step("check"):
            try:
                image = record_saved_disk(name, "qcow2", incoming, sha256, stem, vm.host, ctx.job.requested_by)
            except ValidationError as exc:
                raise JobFailed(
                    _t("The disk is not a usable image: %(why)s") % {"why": " ".join(exc.messages)}
                ) from None
            ctx.log(_t("Image '%(name)s' is in the library and on %(host)s.") % {"name": name, "host": vm.host.name})
        with ctx.step("template"):
            source = vm.template
            size_gib = max(math.ceil(image.virtual_size / GIB), 1)
            fields = {
                "disk_source": DiskSource.OVERLAY,
                "disk_format": DiskFormat.QCOW2,
                "base_image": stem,
                "default_disk_gib": size_gib,
                "max_disk_gib": max(size_gib, VMTemplate._meta.get_field("max_disk_gib").default),
                "storage_pool": source.storage_pool if source else "",
                "cloud_init": source.cloud_init if source else False,
                "requires_kvm": source.requires_kvm if source else False,
            }
            try:
                template = import_template(
                    name,
                    xml,
                    ctx.job.requested_by,
                    description=_t("Saved from VM %(vm)s.") % {"vm": vm.name},
                    **fields,
                )
            except ValidationError as exc:
                raise JobFailed(
                    _t("The template could not be made: %(why)s") % {"why": " ".join(exc.messages)}
                ) from None
            for note in template.import_notes:
                ctx.log(note)
        ctx.log(_t("Template '%(name)s' is ready: new VMs start from this VM's disk.") % {"name": name})

    def on_failure(self, ctx) -> None:
        """Remove the image the job made (file, volume, record), unless its template exists."""
        name = ctx.params.get("name", "")
        if VMTemplate.objects.filter(name=name, base_image=_stem(ctx.job)).exists():
            return
        (images_dir() / f".saving-{ctx.job.pk}").unlink(missing_ok=True)
        Image.objects.filter(volume=_stem(ctx.job)).delete()
        (images_dir() / _stem(ctx.job)).unlink(missing_ok=True)
        vm = load_vm(ctx.job)
        with host_errors(), connection(vm.host.uri) as conn:
            delete_volume_at(conn, f"{pool_path(conn, POOL)}/{_stem(ctx.job)}")
