"""The image.copy job: one image into one host's default pool, through a libvirt upload stream."""

from __future__ import annotations

import libvirt
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from audit import log as audit_log
from audit.choices import AuditResult
from jobs.errors import JobFailed, JobNotAllowed, RetryRefused
from jobs.registry import Runner, register
from jobs.targets import parse_target
from vms.hypervisor.connection import connection
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.storage import find_volume, physical_size, refresh_pool, upload_file
from vms.models import CopyState, ImageCopy
from vms.runners.errors import host_errors

POOL = "default"


def _copy_pk(job) -> str | None:
    try:
        return parse_target(job.target)[1]
    except ValueError:
        return None


def load_copy(job) -> ImageCopy:
    pk = _copy_pk(job)
    copy = ImageCopy.objects.select_related("image", "host").filter(pk=pk).first() if pk else None
    if copy is None:
        raise JobFailed(_("The image or host of this job no longer exists."))
    return copy


def _set(copy: ImageCopy, **fields) -> None:
    ImageCopy.objects.filter(pk=copy.pk).update(**fields)


@register("image.copy")
class CopyImage(Runner):
    label = _("Copy image to host")
    steps = [("upload", _("Upload to the host")), ("check", _("Check the copy"))]
    exclusive = True  # one copy job at a time per image and host

    def run(self, ctx) -> None:
        copy_to_host(ctx, load_copy(ctx.job))

    def check_retry(self, job, user) -> None:
        """As a new copy: an admin's work, to an enabled host, of an image and copy that still exist."""
        if not getattr(user, "is_staff", False):
            raise JobNotAllowed(_t("Only an admin may copy images to hosts."))
        try:
            copy = load_copy(job)
        except JobFailed as exc:
            raise RetryRefused(exc.message) from None
        if not copy.host.enabled:
            raise RetryRefused(_t("%(host)s is disabled.") % {"host": copy.host.name})
        _set(copy, state=CopyState.PENDING, progress=0, error="", job=job)

    def record_retry(self, job, user, refusal) -> None:
        copy = ImageCopy.objects.select_related("image", "host").filter(pk=_copy_pk(job)).first()
        details = {"job": job.pk, "kind": job.kind, "host": copy.host.name if copy else ""}
        image = copy.image if copy else None
        if refusal is None:
            audit_log.record(user, "job.retry", image, **details)
        else:
            audit_log.record(user, "job.retry", image, AuditResult.REFUSED, reason=refusal.message, **details)

    def on_failure(self, ctx) -> None:
        """Remove a partial volume so no template ever starts from half an image."""
        remove_partial_copy(ctx, load_copy(ctx.job))


def remove_partial_copy(ctx, copy: ImageCopy) -> None:
    """After a failed copy: the copy is marked failed and its partial volume removed from the host."""
    copy.refresh_from_db()
    if copy.state != CopyState.FAILED:
        _set(copy, state=CopyState.FAILED, error=_t("The copy did not finish; see job #%(id)d.") % {"id": ctx.job.pk})
    try:
        with connection(copy.host.uri) as conn:
            pool = conn.storagePoolLookupByName(POOL)
            vol = find_volume(pool, copy.volume)
            if vol is not None:
                vol.delete(0)
    except (HypervisorError, libvirt.libvirtError):
        ctx.log(
            _t("The partial volume %(vol)s could not be removed from %(host)s.")
            % {"vol": copy.volume, "host": copy.host.name},
            level="warning",
        )


def copy_to_host(ctx, copy: ImageCopy) -> None:
    """Upload the image to its host in the steps `upload` and `check` of `ctx`'s job, with progress.

    The image.copy job is this alone; a CD-ROM insert runs it first when the ISO is not on the VM's
    host yet (vms/runners/disks.py), so its job shows the same steps and progress.
    """
    image, host = copy.image, copy.host
    path = image.path
    if not image.file or not path.exists():
        _fail(
            copy,
            _t("The uploaded file of image '%(name)s' is missing on the dashboard server; upload it again.")
            % {"name": image.name},
        )
    _set(copy, state=CopyState.COPYING, progress=0, error="", job=ctx.job)
    last = {"pct": -1}

    def progress(sent: int, total: int) -> None:
        pct = int(sent * 100 / total) if total else 100
        if pct != last["pct"]:
            last["pct"] = pct
            _set(copy, progress=min(pct, 99))
            ctx.progress(sent / total if total else 1.0)

    try:
        with host_errors(f"copy image {image.name!r}", host.name), connection(host.uri) as conn:
            with ctx.step("upload"):
                upload_file(conn, POOL, copy.volume, path, progress)
                ctx.log(
                    _t("Copied %(size)d bytes to %(host)s as volume %(vol)s.")
                    % {"size": image.size, "host": host.name, "vol": copy.volume}
                )
            with ctx.step("check"):
                pool = conn.storagePoolLookupByName(POOL)
                refresh_pool(pool)  # libvirt reads the format (qcow2) and virtual size from the file
                vol = find_volume(pool, copy.volume)
                physical = physical_size(vol) if vol is not None else None
                if physical is not None and physical != image.size:
                    raise JobFailed(
                        _t("The copy on %(host)s has %(got)d bytes instead of %(want)d; retry the job.")
                        % {"host": host.name, "got": physical, "want": image.size}
                    )
                if vol is None:
                    raise JobFailed(
                        _t("The volume %(vol)s is missing on %(host)s after the upload; retry the job.")
                        % {"vol": copy.volume, "host": host.name}
                    )
    except JobFailed as exc:
        _set(copy, state=CopyState.FAILED, error=exc.message)
        raise
    _set(copy, state=CopyState.READY, progress=100, error="")


def _fail(copy: ImageCopy, message: str) -> None:
    _set(copy, state=CopyState.FAILED, error=message)
    raise JobFailed(message)
