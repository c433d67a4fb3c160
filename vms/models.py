"""Hosts, templates and VMs. State changes go through vms/services.py, never straight to save()."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from vms.choices import (
    BootMode,
    CopyState,
    DiskFormat,
    DiskSource,
    Emulation,
    ImageFormat,
    ImageKind,
    ShareLevel,
    VMState,
)
from vms.hypervisor.ssh import HostKey, ssh_target
from vms.hypervisor.uris import safe_uri


class Host(models.Model):
    name = models.SlugField(_("name"), max_length=64, unique=True)
    uri = models.CharField(_("libvirt URI"), max_length=500, unique=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    # Out of placement while its VMs are moved off (vms/services/maintenance.py); still watched, unlike
    # a disabled host, so its VMs stay live on the pages while they wait or cannot move.
    maintenance = models.BooleanField(_("in maintenance"), default=False)
    # The same range on every door (API create and update, Django admin, services).
    max_concurrent_jobs = models.PositiveSmallIntegerField(
        _("max concurrent jobs"), default=4, validators=[MinValueValidator(1), MaxValueValidator(64)]
    )
    notes = models.TextField(_("notes"), blank=True)
    # libvirt may list KVM on a host where guests cannot really run with it (nested setups);
    # the admin decides, and templates are adapted to this choice.
    emulation = models.CharField(_("virtualization"), max_length=8, choices=Emulation.choices, default=Emulation.AUTO)
    online = models.BooleanField(_("online"), default=False)
    capabilities = models.JSONField(_("capabilities"), default=dict, blank=True)
    last_checked = models.DateTimeField(_("last checked"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # SSH hosts: the host key an admin confirmed ('<type> <base64>', written to our known_hosts), and
    # the key the host offers that nobody has confirmed yet (first contact, or a changed key).
    ssh_host_key_fingerprint = models.CharField(_("SSH host key fingerprint"), max_length=100, blank=True)
    ssh_host_key = models.TextField(_("SSH host key"), blank=True)
    ssh_offered_host_key = models.TextField(_("SSH host key offered, not confirmed"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("host")
        verbose_name_plural = _("hosts")

    def __str__(self) -> str:
        return self.name

    @property
    def uses_kvm(self) -> bool:
        if self.emulation == Emulation.AUTO:
            return bool(self.capabilities.get("kvm"))
        return self.emulation == Emulation.KVM

    @property
    def virt_types(self) -> tuple[str, ...]:
        """The domain types a template is adapted to on this host, in order of preference."""
        return ("kvm", "qemu") if self.uses_kvm else ("qemu",)

    @property
    def display_uri(self) -> str:
        """The URI as pages show it: no password, no key file path."""
        return safe_uri(self.uri)

    @property
    def uses_ssh(self) -> bool:
        return ssh_target(self.uri) is not None

    @property
    def ssh_offered_fingerprint(self) -> str:
        """The fingerprint of the key waiting for an admin's confirmation ('' when none waits)."""
        target = ssh_target(self.uri)
        key = HostKey.from_text(target[0], target[1], self.ssh_offered_host_key) if target else None
        return key.fingerprint if key else ""


class VMTemplate(models.Model):
    """A domain XML with the parts a request fills in, and the limits a user may ask for."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    domain_xml = models.TextField(_("domain XML"))
    version = models.PositiveIntegerField(_("version"), default=1)
    active = models.BooleanField(_("active"), default=True)
    boot_mode = models.CharField(_("boot mode"), max_length=16, choices=BootMode.choices, default=BootMode.BIOS)
    default_vcpus = models.PositiveSmallIntegerField(_("default vCPUs"), default=1)
    max_vcpus = models.PositiveSmallIntegerField(_("max vCPUs"), default=4)
    default_memory_mib = models.PositiveIntegerField(_("default memory (MiB)"), default=512)
    max_memory_mib = models.PositiveIntegerField(_("max memory (MiB)"), default=8192)
    default_disk_gib = models.PositiveIntegerField(_("default disk (GiB)"), default=1)
    max_disk_gib = models.PositiveIntegerField(_("max disk (GiB)"), default=100)
    disk_source = models.CharField(_("disk"), max_length=16, choices=DiskSource.choices, default=DiskSource.EMPTY)
    disk_format = models.CharField(_("disk format"), max_length=8, choices=DiskFormat.choices, default=DiskFormat.QCOW2)
    base_image = models.CharField(_("base image volume"), max_length=255, blank=True)
    # The libvirt storage pool each VM's disk is made in on its host ("" = the pool named "default");
    # placement checks the free space there.
    storage_pool = models.CharField(_("storage pool"), max_length=64, blank=True)
    cloud_init = models.BooleanField(_("cloud-init"), default=False)
    requires_kvm = models.BooleanField(_("requires KVM"), default=False)
    # How far a running VM may grow without a reboot (the domain's defined maximum vCPUs and maximum
    # memory); 0 = no live growth (a change waits for the next boot).
    max_live_vcpus = models.PositiveSmallIntegerField(_("maximum vCPUs for live resize"), default=0)
    max_live_memory_mib = models.PositiveIntegerField(_("maximum memory for live resize (MiB)"), default=0)
    # Snapshots one VM may keep; empty = the global default (settings.VM_SNAPSHOT_LIMIT).
    snapshot_limit = models.PositiveSmallIntegerField(_("snapshots per VM"), null=True, blank=True)
    autostart = models.BooleanField(_("autostart"), default=False, help_text=_("New VMs start when their host boots."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("template")
        verbose_name_plural = _("templates")

    def __str__(self) -> str:
        return self.name


class VirtualMachine(models.Model):
    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=64)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="vms",
    )
    host = models.ForeignKey(
        Host, verbose_name=_("host"), null=True, blank=True, on_delete=models.PROTECT, related_name="vms"
    )
    template = models.ForeignKey(
        VMTemplate, verbose_name=_("template"), null=True, blank=True, on_delete=models.SET_NULL
    )
    # Set while a job moves the VM to that host (vms/runners/moves.py): the domain is on both hosts for
    # a moment, so the watcher leaves the row to the job meanwhile (vms/watcher/observed.py).
    moving_to = models.ForeignKey(
        Host, verbose_name=_("moving to"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    template_version = models.PositiveIntegerField(_("template version"), null=True, blank=True)
    domain_xml = models.TextField(_("domain XML"), blank=True)
    vcpus = models.PositiveSmallIntegerField(_("vCPUs"), default=1)
    memory_mib = models.PositiveIntegerField(_("memory (MiB)"), default=512)
    disk_gib = models.PositiveIntegerField(_("disk (GiB)"), default=0)
    state = models.CharField(_("state"), max_length=16, choices=VMState.choices, default=VMState.PENDING)
    state_changed_at = models.DateTimeField(_("last state change"), auto_now_add=True)
    managed = models.BooleanField(_("managed"), default=True, help_text=_("False for domains discovered on a host."))
    autostart = models.BooleanField(_("autostart"), default=False)
    # Created transient (the seed's `virsh create`): gone from its host when it powers off.
    run_once = models.BooleanField(_("run once"), default=False)
    notes = models.TextField(_("notes"), blank=True)
    # Volumes detached from the VM but kept (the owner chose so): deleted with the VM.
    # Each: {"pool": ..., "name": ..., "path": ..., "size_gib": ...}.
    detached_volumes = models.JSONField(_("detached volumes"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("virtual machine")
        verbose_name_plural = _("virtual machines")
        constraints = [
            models.UniqueConstraint(
                fields=["host", "name"],
                condition=~models.Q(state=VMState.DELETED),
                name="vm_name_unique_per_host",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        # Job and audit pages link a VM through this, without importing vms (docs/architecture.md).
        return reverse("vm-detail", args=[self.uuid])


class TemplateVersion(models.Model):
    """What a template was at one version: editing never changes VMs already made from it."""

    template = models.ForeignKey(
        VMTemplate, verbose_name=_("template"), on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField(_("version"))
    domain_xml = models.TextField(_("domain XML"))
    # The limits, disk layout and cloud-init choice at that version (see services.templates.snapshot).
    limits = models.JSONField(_("limits and disk"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["template", "-version"]
        verbose_name = _("template version")
        verbose_name_plural = _("template versions")
        constraints = [models.UniqueConstraint(fields=["template", "version"], name="template_version_unique")]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.version}"


class Image(models.Model):
    """A base disk image or an ISO, uploaded once and copied into each chosen host's default pool."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=ImageKind.choices)
    format = models.CharField(_("format"), max_length=8, choices=ImageFormat.choices)
    size = models.BigIntegerField(_("file size (bytes)"), default=0)
    virtual_size = models.BigIntegerField(_("disk size (bytes)"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    # Relative to settings.VAR_DIR / "images"; named by the dashboard, never by the uploader.
    file = models.CharField(_("file"), max_length=255, blank=True)
    # An ISO users may put in their VMs' CD-ROM drives (admins publish it).
    published = models.BooleanField(_("published to users"), default=False)
    # The volume name in every host's default pool (templates refer to base images by it).
    volume = models.CharField(_("volume name"), max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("image")
        verbose_name_plural = _("images")

    def __str__(self) -> str:
        return self.name

    @property
    def path(self):
        return settings.VAR_DIR / "images" / self.file


class ImageCopy(models.Model):
    """One image on one host: written by the image.copy job only."""

    image = models.ForeignKey(Image, verbose_name=_("image"), on_delete=models.CASCADE, related_name="copies")
    host = models.ForeignKey(Host, verbose_name=_("host"), on_delete=models.CASCADE, related_name="image_copies")
    volume = models.CharField(_("volume name"), max_length=255)
    state = models.CharField(_("state"), max_length=8, choices=CopyState.choices, default=CopyState.PENDING)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    error = models.TextField(_("error"), blank=True)
    job = models.ForeignKey(
        "jobs.Job", verbose_name=_("job"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["image", "host"]
        verbose_name = _("image copy")
        verbose_name_plural = _("image copies")
        constraints = [models.UniqueConstraint(fields=["image", "host"], name="image_copy_unique_per_host")]

    def __str__(self) -> str:
        return f"{self.image.name} @ {self.host.name}"


class VMShare(models.Model):
    """A VM its owner shares with another user, to view or to operate."""

    vm = models.ForeignKey(
        VirtualMachine, verbose_name=_("virtual machine"), on_delete=models.CASCADE, related_name="shares"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="vm_shares"
    )
    level = models.CharField(_("access"), max_length=8, choices=ShareLevel.choices, default=ShareLevel.VIEW)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("shared by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        db_table = "portal_vmshare"  # made by the portal app before sharing moved to the VMs' access control
        ordering = ["vm", "user"]
        verbose_name = _("VM share")
        verbose_name_plural = _("VM shares")
        constraints = [models.UniqueConstraint(fields=["vm", "user"], name="vm_share_unique")]

    def __str__(self) -> str:
        return f"{self.vm} -> {self.user} ({self.level})"


class HostNetwork(models.Model):
    """A libvirt network on one host, by name: the stable id that the API's /networks/{id}/ names.

    Only the identity is kept here. What the network is (active, autostart, mode, bridge, DHCP) is a
    host fact, stored with the host's other facts in Host.capabilities["networks"] when the host is
    checked, when the watcher connects and after each network action (services/networks.py).
    """

    host = models.ForeignKey(Host, verbose_name=_("host"), on_delete=models.CASCADE, related_name="networks")
    name = models.CharField(_("name"), max_length=64)
    created_at = models.DateTimeField(_("first seen"), auto_now_add=True)

    class Meta:
        ordering = ["host__name", "name"]
        verbose_name = _("host network")
        verbose_name_plural = _("host networks")
        constraints = [models.UniqueConstraint(fields=["host", "name"], name="host_network_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} @ {self.host.name}"


class VMTag(models.Model):
    """A word a VM's owner puts on it to find it again (filters of the VM lists)."""

    vm = models.ForeignKey(
        VirtualMachine, verbose_name=_("virtual machine"), on_delete=models.CASCADE, related_name="tags"
    )
    name = models.CharField(_("tag"), max_length=32)

    class Meta:
        ordering = ["name"]
        verbose_name = _("VM tag")
        verbose_name_plural = _("VM tags")
        constraints = [models.UniqueConstraint(fields=["vm", "name"], name="vm_tag_unique")]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.name


class VMSnapshot(models.Model):
    """A libvirt snapshot of a VM, as its last snapshot job left it (pages read this, never libvirt)."""

    vm = models.ForeignKey(
        VirtualMachine, verbose_name=_("virtual machine"), on_delete=models.CASCADE, related_name="snapshots"
    )
    name = models.CharField(_("name"), max_length=64)
    description = models.TextField(_("description"), blank=True)
    parent = models.CharField(_("parent"), max_length=64, blank=True)
    # The domain's state in the snapshot: "running" (memory kept) or "shutoff" (disks only).
    state = models.CharField(_("state"), max_length=16, blank=True)
    with_memory = models.BooleanField(_("with memory"), default=False)
    current = models.BooleanField(_("current"), default=False)
    created_at = models.DateTimeField(_("created"))

    class Meta:
        ordering = ["vm", "created_at"]
        verbose_name = _("snapshot")
        verbose_name_plural = _("snapshots")
        constraints = [models.UniqueConstraint(fields=["vm", "name"], name="vm_snapshot_unique_name")]

    def __str__(self) -> str:
        return f"{self.vm.name}@{self.name}"


class VMDomainVersion(models.Model):
    """A VM's persistent domain XML as an admin saved it: the history of hand edits."""

    vm = models.ForeignKey(
        VirtualMachine, verbose_name=_("virtual machine"), on_delete=models.CASCADE, related_name="xml_versions"
    )
    version = models.PositiveIntegerField(_("version"))
    domain_xml = models.TextField(_("domain XML"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["vm", "-version"]
        verbose_name = _("VM domain XML version")
        verbose_name_plural = _("VM domain XML versions")
        constraints = [models.UniqueConstraint(fields=["vm", "version"], name="vm_domain_version_unique")]

    def __str__(self) -> str:
        return f"{self.vm.name} v{self.version}"


class MACAddress(models.Model):
    """A MAC address given to a VM's interface: unique in the whole fleet, not just on one host."""

    mac = models.CharField(_("MAC address"), max_length=17, unique=True)
    vm = models.ForeignKey(
        VirtualMachine, verbose_name=_("virtual machine"), on_delete=models.CASCADE, related_name="mac_addresses"
    )

    class Meta:
        ordering = ["mac"]
        verbose_name = _("MAC address")
        verbose_name_plural = _("MAC addresses")

    def __str__(self) -> str:
        return self.mac
