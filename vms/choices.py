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
