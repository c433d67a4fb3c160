"""States are data: the allowed values and transitions live here and nowhere else."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class VMState(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROVISIONING = "provisioning", _("Provisioning")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    SHUTTING_DOWN = "shutting_down", _("Shutting down")
    STOPPED = "stopped", _("Stopped")
    CRASHED = "crashed", _("Crashed")
    UNKNOWN = "unknown", _("State unknown")
    FAILED = "failed", _("Failed")
    DELETING = "deleting", _("Deleting")
    DELETED = "deleted", _("Deleted")


class BootMode(models.TextChoices):
    BIOS = "bios", _("BIOS (boot order)")
    KERNEL = "kernel", _("Direct kernel boot")


class DiskSource(models.TextChoices):
    EMPTY = "empty", _("Empty disk")
    OVERLAY = "overlay", _("qcow2 overlay on the base image")
    COPY = "copy", _("Full copy of the base image")
    NONE = "none", _("No disk")


class DiskFormat(models.TextChoices):
    RAW = "raw", _("raw")
    QCOW2 = "qcow2", _("qcow2")


class Emulation(models.TextChoices):
    AUTO = "auto", _("KVM when the host offers it")
    KVM = "kvm", _("Always KVM")
    QEMU = "qemu", _("Software emulation (QEMU TCG)")


# States a job owns: the watcher records what it sees but does not overwrite these.
JOB_OWNED_STATES = {VMState.PENDING, VMState.PROVISIONING, VMState.DELETING}
# States that no longer hold resources or accept actions.
GONE_STATES = {VMState.DELETED}


class VMAction(models.TextChoices):
    START = "start", _("Start")
    SHUTDOWN = "shutdown", _("Shut down")
    REBOOT = "reboot", _("Reboot")
    FORCE_OFF = "force-off", _("Force off")
    SUSPEND = "suspend", _("Suspend")
    RESUME = "resume", _("Resume")
    DELETE = "delete", _("Delete")


# Which states each action may start from; anything else is refused with a reason.
ACTION_FROM_STATES: dict[str, set[str]] = {
    VMAction.START: {VMState.STOPPED, VMState.CRASHED, VMState.UNKNOWN},
    VMAction.SHUTDOWN: {VMState.RUNNING, VMState.PAUSED, VMState.UNKNOWN},
    VMAction.REBOOT: {VMState.RUNNING, VMState.UNKNOWN},
    VMAction.FORCE_OFF: {VMState.RUNNING, VMState.PAUSED, VMState.SHUTTING_DOWN, VMState.CRASHED, VMState.UNKNOWN},
    VMAction.SUSPEND: {VMState.RUNNING, VMState.UNKNOWN},
    VMAction.RESUME: {VMState.PAUSED, VMState.UNKNOWN},
    VMAction.DELETE: {s for s in VMState.values if s not in (VMState.DELETED, VMState.DELETING)},
}

# The state each action leaves a VM in when it succeeds.
ACTION_RESULT: dict[str, str] = {
    VMAction.START: VMState.RUNNING,
    VMAction.SHUTDOWN: VMState.STOPPED,
    VMAction.REBOOT: VMState.RUNNING,
    VMAction.FORCE_OFF: VMState.STOPPED,
    VMAction.SUSPEND: VMState.PAUSED,
    VMAction.RESUME: VMState.RUNNING,
    VMAction.DELETE: VMState.DELETED,
}


class ImageKind(models.TextChoices):
    BASE = "base", _("Base disk image")
    ISO = "iso", _("ISO (CD-ROM)")


class ImageFormat(models.TextChoices):
    RAW = "raw", _("raw")
    QCOW2 = "qcow2", _("qcow2")
    ISO = "iso", _("ISO 9660")


class CopyState(models.TextChoices):
    PENDING = "pending", _("Waiting")
    COPYING = "copying", _("Copying")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class ShareLevel(models.TextChoices):
    VIEW = "view", _("View")
    OPERATE = "operate", _("View and operate")


class VolumeOwner(models.TextChoices):
    """Who a volume in a host's storage pool belongs to (the Storage page; only NOBODY's may be deleted)."""

    VM = "vm", _("VM")
    IMAGE = "image", _("Image copy")
    DISCOVERED = "discovered", _("Discovered VM")
    NOBODY = "none", _("Nobody")
