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

# A run-once VM (created transient) has nothing on its host to start once it is off: powering off
# removes it (the dashboard then marks it deleted). Start is refused for it whatever its state.
# Shut down and force off leave it deleted rather than stopped (vms/services/run_once.py).
RUN_ONCE_REFUSED_ACTIONS = {VMAction.START}

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


class VMChange(models.TextChoices):
    """Changes to a VM after it is made (issue 15): each one is a job `vm.<value>` on the VM."""

    SNAPSHOT_CREATE = "snapshot-create", _("Take a snapshot")
    SNAPSHOT_REVERT = "snapshot-revert", _("Revert to a snapshot")
    SNAPSHOT_DELETE = "snapshot-delete", _("Delete a snapshot")
    UPDATE = "update", _("Change settings")  # vCPUs, memory, name, autostart (PATCH /api/v1/vms/{id}/)
    DISK_ADD = "disk-add", _("Add a disk")
    DISK_DETACH = "disk-detach", _("Detach a disk")
    DISK_RESIZE = "disk-resize", _("Grow a disk")
    CDROM_INSERT = "cdrom-insert", _("Insert an ISO")
    CDROM_EJECT = "cdrom-eject", _("Eject the ISO")
    CDROM_ADD = "cdrom-add", _("Add a CD-ROM drive")
    BOOT = "boot", _("Change the boot order")
    KERNEL = "kernel", _("Change the kernel boot")
    INTERFACE_ADD = "interface-add", _("Add a network interface")
    INTERFACE_REMOVE = "interface-remove", _("Remove a network interface")
    INTERFACE_LINK = "interface-link", _("Set a link up or down")
    DOMAIN_XML = "domain-xml", _("Change the domain XML")
    CLONE = "clone", _("Clone")  # issue 16: a new VM, a full copy of this one (vms/services/clones.py)
    SAVE_AS_TEMPLATE = "save-as-template", _("Save as template")  # admins: vms/services/save_template.py
    MIGRATE = "migrate", _("Move to another host")  # live when running, offline when stopped (vms/services/moves.py)


# Where a VM may be changed from. A running VM changes live where libvirt allows it, otherwise the
# change waits for the next boot; a paused or unknown VM is not changed (what it is is not clear).
_ON = {VMState.RUNNING}
_OFF = {VMState.STOPPED, VMState.CRASHED}
_ON_OR_OFF = _ON | _OFF
CHANGE_FROM_STATES: dict[str, set[str]] = {
    VMChange.SNAPSHOT_CREATE: _ON_OR_OFF | {VMState.PAUSED},
    VMChange.SNAPSHOT_REVERT: _ON_OR_OFF | {VMState.PAUSED},
    VMChange.SNAPSHOT_DELETE: _ON_OR_OFF | {VMState.PAUSED},
    VMChange.UPDATE: _ON_OR_OFF,
    VMChange.DISK_ADD: _ON_OR_OFF,
    VMChange.DISK_DETACH: _ON_OR_OFF,
    VMChange.DISK_RESIZE: _ON_OR_OFF,
    VMChange.CDROM_INSERT: _ON_OR_OFF,
    VMChange.CDROM_EJECT: _ON_OR_OFF,
    VMChange.CDROM_ADD: _OFF,  # a new IDE/SATA drive cannot be plugged into a running VM
    VMChange.BOOT: _ON_OR_OFF,  # effective at next boot
    VMChange.KERNEL: _ON_OR_OFF,  # effective at next boot
    VMChange.INTERFACE_ADD: _ON_OR_OFF,
    VMChange.INTERFACE_REMOVE: _ON_OR_OFF,
    VMChange.INTERFACE_LINK: _ON_OR_OFF,
    VMChange.DOMAIN_XML: _ON_OR_OFF,  # effective at next boot
    VMChange.CLONE: _ON_OR_OFF,  # running: copied as of one moment (vms/hypervisor/backups.py)
    VMChange.SAVE_AS_TEMPLATE: _OFF,  # the system disk as it is: nothing may write to it meanwhile
    VMChange.MIGRATE: _ON_OR_OFF,  # a paused guest would stay paused for the whole copy: resume it first
}
# A change leaves the VM in the state it found it in, except these (None: the state it found).
CHANGE_RESULT: dict[str, str | None] = {change: None for change in VMChange.values}
# Reverting to a snapshot leaves the VM as the snapshot was: running or stopped (decided by the job).
CHANGE_RESULT[VMChange.SNAPSHOT_REVERT] = None
# Run-once VMs (created transient, never defined) have no persistent config to change.
RUN_ONCE_REFUSED = {
    VMChange.SNAPSHOT_CREATE,
    VMChange.SNAPSHOT_REVERT,
    VMChange.SNAPSHOT_DELETE,
    VMChange.BOOT,
    VMChange.KERNEL,
    VMChange.DOMAIN_XML,
    VMChange.CDROM_ADD,
    VMChange.CLONE,
    VMChange.SAVE_AS_TEMPLATE,
    VMChange.MIGRATE,  # nothing to define on the new host: it would vanish at its next power-off anyway
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
