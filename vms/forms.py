"""Forms for the admin pages. They parse; the services in vms/services/ decide and write."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from vms.choices import BootMode, DiskFormat, DiskSource, ShareLevel
from vms.domainxml import LIFECYCLE_ACTIONS
from vms.models import Host, Image, ImageFormat, ImageKind, VMTemplate
from vms.services import templates as services

BOOT_DEVICE_CHOICES = [
    ("", "—"),
    ("hd", _("Hard disk")),
    ("cdrom", _("CD-ROM")),
    ("network", _("Network (PXE)")),
    ("fd", _("Floppy")),
]
NETWORK_CHOICES = [
    ("none", _("No network")),
    ("user", _("User-mode (outgoing only, no set-up)")),
    ("network", _("libvirt network")),
    ("bridge", _("Host bridge")),
]
GRAPHICS_CHOICES = [("none", _("None (serial console only)")), ("vnc", _("VNC")), ("spice", _("SPICE"))]
CLOCK_CHOICES = [("utc", _("UTC")), ("localtime", _("Host local time (Windows guests)"))]
BUS_CHOICES = [
    ("virtio", _("virtio (fastest; Linux)")),
    ("sata", _("SATA")),
    ("scsi", _("SCSI")),
    ("ide", _("IDE (old guests)")),
]
ACTION_LABELS = {
    "destroy": _("Stop the VM"),
    "restart": _("Restart the VM"),
    "preserve": _("Keep it for debugging"),
    "rename-restart": _("Rename and restart"),
    "coredump-destroy": _("Dump core, then stop"),
    "coredump-restart": _("Dump core, then restart"),
}
# Template columns the form edits directly (the rest are typed parts of the domain XML).
MODEL_FIELDS = (
    "name",
    "description",
    "active",
    "max_vcpus",
    "max_memory_mib",
    "default_disk_gib",
    "max_disk_gib",
    "disk_source",
    "disk_format",
    "base_image",
    "cloud_init",
    "requires_kvm",
)
SETTING_FIELDS = services.SETTING_NAMES


def _actions(event: str) -> list[tuple[str, str]]:
    return [(a, ACTION_LABELS.get(a, a)) for a in LIFECYCLE_ACTIONS[event]]


class TemplateForm(forms.Form):
    """Edits a template's limits and the typed parts of its domain XML, through the domain XML engine."""

    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    active = forms.BooleanField(label=_("Users may request VMs from it"), required=False, initial=True)

    vcpus = forms.IntegerField(label=_("vCPUs (default)"), min_value=1, max_value=512)
    max_vcpus = forms.IntegerField(label=_("Most vCPUs a user may ask for"), min_value=1, max_value=512)
    memory_mib = forms.IntegerField(label=_("Memory in MiB (default)"), min_value=16)
    current_memory_mib = forms.IntegerField(
        label=_("Memory at boot in MiB (current memory)"),
        min_value=16,
        required=False,
        help_text=_(
            "At most the memory above; with a memory balloon the guest can be given the rest later. "
            "Empty: the same as the memory."
        ),
    )
    max_memory_mib = forms.IntegerField(label=_("Most memory a user may ask for (MiB)"), min_value=16)

    boot_mode = forms.ChoiceField(label=_("Boot"), choices=BootMode.choices)
    boot_1 = forms.ChoiceField(label=_("Boot from, first"), choices=BOOT_DEVICE_CHOICES, required=False)
    boot_2 = forms.ChoiceField(label=_("then"), choices=BOOT_DEVICE_CHOICES, required=False)
    boot_3 = forms.ChoiceField(label=_("then"), choices=BOOT_DEVICE_CHOICES, required=False)
    boot_menu = forms.BooleanField(label=_("Show the boot menu"), required=False)
    kernel = forms.CharField(label=_("Kernel path on the hosts"), required=False, max_length=4096)
    initrd = forms.CharField(label=_("Initrd path on the hosts"), required=False, max_length=4096)
    cmdline = forms.CharField(label=_("Kernel command line"), required=False, max_length=4096)

    disk_source = forms.ChoiceField(label=_("Disk"), choices=DiskSource.choices)
    base_image = forms.ChoiceField(label=_("Base image"), required=False)
    disk_format = forms.ChoiceField(label=_("Disk format"), choices=DiskFormat.choices)
    disk_bus = forms.ChoiceField(label=_("Disk bus"), choices=BUS_CHOICES)
    default_disk_gib = forms.IntegerField(label=_("Disk size in GiB (default)"), min_value=1)
    max_disk_gib = forms.IntegerField(label=_("Largest disk a user may ask for (GiB)"), min_value=1)
    cdrom_iso = forms.ChoiceField(label=_("CD-ROM"), required=False)

    network_kind = forms.ChoiceField(label=_("Network"), choices=NETWORK_CHOICES)
    network_source = forms.CharField(label=_("Bridge or network name"), required=False, max_length=200)
    graphics = forms.ChoiceField(label=_("Graphical console"), choices=GRAPHICS_CHOICES)
    serial_console = forms.BooleanField(label=_("Serial console"), required=False)

    on_poweroff = forms.ChoiceField(label=_("When the guest powers off"), choices=_actions("on_poweroff"))
    on_reboot = forms.ChoiceField(label=_("When the guest reboots"), choices=_actions("on_reboot"))
    on_crash = forms.ChoiceField(label=_("When the guest crashes"), choices=_actions("on_crash"))
    acpi = forms.BooleanField(label=_("ACPI (power button, shutdown)"), required=False)
    apic = forms.BooleanField(label=_("APIC"), required=False)
    pae = forms.BooleanField(label=_("PAE (32-bit guests with more than 4 GiB)"), required=False)
    clock_offset = forms.ChoiceField(label=_("Clock"), choices=CLOCK_CHOICES)
    cloud_init = forms.BooleanField(
        label=_("Configure the guest with cloud-init (SSH keys, host name)"), required=False
    )
    requires_kvm = forms.BooleanField(label=_("Only place on hosts with KVM"), required=False)

    domain_xml = forms.CharField(
        label=_("Domain XML (advanced)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}),
        help_text=_("Edit anything the fields above do not cover. The fields above are applied on top of it."),
    )

    def __init__(self, *args, instance: VMTemplate | None = None, **kwargs) -> None:
        self.instance = instance
        xml = instance.domain_xml if instance is not None else services.blank_domain_xml()
        initial = {**services.read_settings(xml), "domain_xml": xml}
        if instance is not None:
            initial.update({f: getattr(instance, f) for f in MODEL_FIELDS})
        else:
            initial.update({f.name: f.get_default() for f in VMTemplate._meta.fields if f.name in MODEL_FIELDS})
            initial.update({"name": "", "active": True, "disk_format": DiskFormat.QCOW2})
        for i, dev in enumerate(initial.pop("boot_order", [])[:3], start=1):
            initial[f"boot_{i}"] = dev
        kwargs["initial"] = {**initial, **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        bases = list(Image.objects.filter(kind=ImageKind.BASE).values_list("volume", "name"))
        isos = list(Image.objects.filter(kind=ImageKind.ISO, format=ImageFormat.ISO).values_list("volume", "name"))
        current_base = self.initial.get("base_image") or ""
        if current_base and current_base not in dict(bases):
            bases.append((current_base, current_base))
        current_iso = self.initial.get("cdrom_iso") or ""
        if current_iso and current_iso not in dict(isos):
            isos.append((current_iso, current_iso))
        self.fields["base_image"].choices = [("", _("— none —")), *bases]
        self.fields["cdrom_iso"].choices = [("", _("— empty drive —")), *isos]

    def _settings(self) -> dict:
        data = self.cleaned_data
        changed = set(self.changed_data)
        settings = {}
        for name in SETTING_FIELDS:
            if name == "boot_order":
                if changed & {"boot_1", "boot_2", "boot_3"}:
                    settings["boot_order"] = [d for d in (data["boot_1"], data["boot_2"], data["boot_3"]) if d]
            elif name == "current_memory_mib":
                # Only when asked for: otherwise a current memory below the maximum is kept, or follows it.
                if name in changed:
                    settings[name] = data[name] if data[name] is not None else data["memory_mib"]
            elif name in changed or self.instance is None:
                settings[name] = data.get(name)
        if settings.get("boot_mode") == BootMode.BIOS:
            for name in ("kernel", "initrd", "cmdline"):
                settings.pop(name, None)
        if "network_source" in settings or "network_kind" in settings:
            settings["network_kind"] = data["network_kind"]
            settings["network_source"] = data["network_source"]
        if any(k in settings for k in ("kernel", "initrd", "cmdline", "boot_order", "boot_menu")):
            settings.setdefault("boot_mode", data["boot_mode"])
        if settings.get("boot_mode") == BootMode.KERNEL:
            for name in ("kernel", "initrd", "cmdline"):
                settings[name] = data[name]
        return settings

    def save(self, user) -> VMTemplate:
        """Create or update through the services; their errors are put on the matching fields."""
        fields = {f: self.cleaned_data[f] for f in MODEL_FIELDS}
        fields["default_vcpus"] = self.cleaned_data["vcpus"]
        fields["default_memory_mib"] = self.cleaned_data["memory_mib"]
        xml = self.cleaned_data["domain_xml"] if "domain_xml" in self.changed_data else None
        settings = self._settings()
        settings.setdefault("memory_mib", self.cleaned_data["memory_mib"])
        settings.setdefault("vcpus", self.cleaned_data["vcpus"])
        try:
            if self.instance is None:
                name = fields.pop("name")
                for key in ("default_vcpus", "default_memory_mib"):
                    fields.pop(key)
                return services.create_template(
                    user, name=name, domain_xml=xml or services.blank_domain_xml(), settings=settings, **fields
                )
            for key in ("default_vcpus", "default_memory_mib"):
                fields.pop(key)
            return services.update_template(self.instance, user, domain_xml=xml, settings=settings, **fields)
        except ValidationError as exc:
            self._add_service_errors(exc)
            raise

    def _add_service_errors(self, exc: ValidationError) -> None:
        aliases = {
            "default_vcpus": "vcpus",
            "default_memory_mib": "memory_mib",
            "boot_order": "boot_1",
            "xml": "domain_xml",
            "__all__": None,
        }
        for key, messages in (exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}).items():
            field = aliases.get(key, key) if key is not None else None
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


class TemplateImportForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    xml = forms.CharField(
        label=_("Domain XML"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 20, "spellcheck": "false"}),
        help_text=_("Paste the output of 'virsh dumpxml NAME', or upload the file below."),
    )
    file = forms.FileField(label=_("or upload an XML file"), required=False)

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > services.MAX_XML_BYTES:
                raise ValidationError({"file": _("A domain XML file is at most 512 KiB.")})
            data["xml"] = upload.read()
        if not data.get("xml"):
            raise ValidationError({"xml": _("Paste the domain XML or upload its file.")})
        return data


class PreviewForm(forms.Form):
    host = forms.ModelChoiceField(label=_("Host"), queryset=Host.objects.all(), empty_label=None)


class ImageUploadForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), choices=ImageKind.choices)
    format = forms.ChoiceField(label=_("Format"), choices=ImageFormat.choices)
    file = forms.FileField(label=_("File"))
    hosts = forms.ModelMultipleChoiceField(
        label=_("Copy to hosts"),
        queryset=Host.objects.filter(enabled=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class ImageCopyForm(forms.Form):
    hosts = forms.ModelMultipleChoiceField(
        label=_("Copy to hosts"), queryset=Host.objects.filter(enabled=True), widget=forms.CheckboxSelectMultiple
    )


class ShareForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    level = forms.ChoiceField(label=_("Access"), choices=ShareLevel.choices, initial=ShareLevel.VIEW)
