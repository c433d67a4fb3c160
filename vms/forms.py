"""Forms for the admin pages. They parse; the services in vms/services/ decide and write."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from vms.choices import DiskFormat, Emulation, ShareLevel
from vms.domainxml.template import (
    BIOS,
    BOOL,
    CHOICE,
    DEVICES,
    INT,
    KERNEL,
    NOTE,
    SETTING_NAMES,
    SETTINGS,
    TEXT,
    VOLUME,
    Setting,
    blank_domain_xml,
    read_settings,
)
from vms.models import Host, Image, ImageFormat, ImageKind, VMTemplate
from vms.services import templates as services
from vms.services.templates import translated

# The boot order (a list) is offered as these selects, first to last.
BOOT_FIELDS = ("boot_1", "boot_2", "boot_3")


def _choices(setting: Setting) -> list[tuple[str, str]]:
    return [(value, translated(label)) for value, label in setting.choices]


def form_fields(setting: Setting) -> dict[str, forms.Field]:
    """The form field(s) for one declared setting or column, named as the page and its clients know them."""
    label = translated(setting.label)
    help_text = translated(setting.help) if setting.help else ""
    if setting.kind == INT:
        field = forms.IntegerField(
            label=label,
            help_text=help_text,
            required=setting.required,
            min_value=setting.min if setting.form_min is None else setting.form_min,
            max_value=setting.max if setting.form_max is None else setting.form_max,
        )
    elif setting.kind == BOOL:
        field = forms.BooleanField(label=label, help_text=help_text, required=False)
    elif setting.kind == CHOICE:
        field = forms.ChoiceField(
            label=label, help_text=help_text, required=setting.required, choices=_choices(setting)
        )
    elif setting.kind == VOLUME:  # the choices are the uploaded images, set when the form is made
        field = forms.ChoiceField(label=label, help_text=help_text, required=False)
    elif setting.kind == TEXT:
        field = forms.CharField(
            label=label, help_text=help_text, required=setting.required, max_length=setting.max_length
        )
    elif setting.kind == NOTE:
        field = forms.CharField(
            label=label, help_text=help_text, required=setting.required, widget=forms.Textarea(attrs={"rows": 2})
        )
    elif setting.kind == DEVICES:
        choices = [("", "—"), *_choices(setting)]
        return {
            name: forms.ChoiceField(label=label if i == 0 else _("then"), choices=choices, required=False)
            for i, name in enumerate(BOOT_FIELDS)
        }
    else:
        raise ValueError(f"no form field for a setting of kind {setting.kind!r}")
    return {setting.name: field}


# Template columns the form edits directly (the rest are typed parts of the domain XML).
MODEL_FIELDS = tuple(c.name for c in services.COLUMNS if not c.from_setting)
SETTING_FIELDS = SETTING_NAMES

# The page's fields, built from their one declaration: the columns, then the typed settings.
_TemplateFields = type(forms.Form)(
    "_TemplateFields",
    (forms.Form,),
    {
        "__module__": __name__,
        **{
            name: field
            for declared in (*(c for c in services.COLUMNS if not c.from_setting), *SETTINGS)
            for name, field in form_fields(declared).items()
        },
    },
)


class TemplateForm(_TemplateFields):
    """Edits a template's limits and the typed parts of its domain XML, through the domain XML engine.

    Its fields come from `vms.services.templates.COLUMNS` and `vms.domainxml.template.SETTINGS`.
    """

    domain_xml = forms.CharField(
        label=_("Domain XML (advanced)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}),
        help_text=_("Edit anything the fields above do not cover. The fields above are applied on top of it."),
    )

    def __init__(self, *args, instance: VMTemplate | None = None, **kwargs) -> None:
        self.instance = instance
        xml = instance.domain_xml if instance is not None else blank_domain_xml()
        initial = {**read_settings(xml), "domain_xml": xml}
        if instance is not None:
            initial.update({f: getattr(instance, f) for f in MODEL_FIELDS})
        else:
            initial.update({f.name: f.get_default() for f in VMTemplate._meta.fields if f.name in MODEL_FIELDS})
            initial.update({"name": "", "active": True, "disk_format": DiskFormat.QCOW2})
        initial.update(zip(BOOT_FIELDS, initial.pop("boot_order", []), strict=False))
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
                if changed & set(BOOT_FIELDS):
                    settings["boot_order"] = [data[f] for f in BOOT_FIELDS if data[f]]
            elif name == "current_memory_mib":
                # Only when asked for: otherwise a current memory below the maximum is kept, or follows it.
                if name in changed:
                    settings[name] = data[name] if data[name] is not None else data["memory_mib"]
            elif name in changed or self.instance is None:
                settings[name] = data.get(name)
        if settings.get("boot_mode") == BIOS:
            for name in ("kernel", "initrd", "cmdline"):
                settings.pop(name, None)
        if "network_source" in settings or "network_kind" in settings:
            settings["network_kind"] = data["network_kind"]
            settings["network_source"] = data["network_source"]
        if any(k in settings for k in ("kernel", "initrd", "cmdline", "boot_order", "boot_menu")):
            settings.setdefault("boot_mode", data["boot_mode"])
        if settings.get("boot_mode") == KERNEL:
            for name in ("kernel", "initrd", "cmdline"):
                settings[name] = data[name]
        return settings

    def save(self, user) -> VMTemplate:
        """Create or update through the services; their errors are put on the matching fields."""
        fields = {f: self.cleaned_data[f] for f in MODEL_FIELDS}
        xml = self.cleaned_data["domain_xml"] if "domain_xml" in self.changed_data else None
        settings = self._settings()
        settings.setdefault("memory_mib", self.cleaned_data["memory_mib"])
        settings.setdefault("vcpus", self.cleaned_data["vcpus"])
        try:
            if self.instance is None:
                name = fields.pop("name")
                return services.create_template(
                    user, name=name, domain_xml=xml or blank_domain_xml(), settings=settings, **fields
                )
            return services.update_template(self.instance, user, domain_xml=xml, settings=settings, **fields)
        except ValidationError as exc:
            self._add_service_errors(exc)
            raise

    def _add_service_errors(self, exc: ValidationError) -> None:
        aliases = {
            **services.FROM_SETTINGS,  # default_vcpus -> vcpus, ...
            "boot_order": BOOT_FIELDS[0],
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


class PoolForm(forms.Form):
    """A new directory pool on a host; the rules (safe name, absolute path) are the service's."""

    name = forms.CharField(
        label=_("Pool name"),
        max_length=64,
        help_text=_("Letters, digits, dots, hyphens or underscores, for example 'nvme1'."),
    )
    path = forms.CharField(
        label=_("Directory on the host"),
        max_length=4096,
        strip=False,
        help_text=_("An absolute path; libvirt creates the directory if it does not exist."),
    )


class NetworkForm(forms.Form):
    """A new libvirt network on one or several hosts. The service (services/networks.py) checks it."""

    MODE_CHOICES = [
        ("nat", _("NAT: guests reach out through the host's address")),
        ("route", _("Routed: guests' subnet routed by the host, no NAT")),
        ("bridge", _("Bridge: guests join an existing bridge on the host")),
    ]

    name = forms.CharField(label=_("Name"), max_length=50)
    hosts = forms.ModelMultipleChoiceField(
        label=_("On hosts"), queryset=Host.objects.all(), widget=forms.CheckboxSelectMultiple
    )
    mode = forms.ChoiceField(label=_("Mode"), choices=MODE_CHOICES, initial="nat", widget=forms.RadioSelect)
    bridge = forms.CharField(
        label=_("Bridge"), max_length=15, required=False, help_text=_("Bridge mode only: the host's bridge, e.g. br0.")
    )
    subnet = forms.CharField(
        label=_("Subnet"),
        max_length=43,
        required=False,
        help_text=_("NAT and routed: a private IPv4 subnet, e.g. 192.168.150.0/24. The host takes its first address."),
    )
    dhcp = forms.BooleanField(
        label=_("DHCP"), required=False, initial=True, help_text=_("Hand out the rest of the subnet to guests.")
    )


class HostForm(forms.Form):
    """A host's settings, as the hosts page edits them; vms/services/hosts.py checks and writes."""

    name = forms.CharField(
        label=_("Name"), max_length=64, help_text=_("Letters, numbers, hyphens or underscores, e.g. kvm-01.")
    )
    uri = forms.CharField(
        label=_("libvirt URI"),
        max_length=500,
        help_text=_("For example qemu+ssh://root@kvm-01/system (this server's SSH key) or qemu+tls://kvm-01/system."),
    )
    emulation = forms.ChoiceField(label=_("Virtualization"), choices=Emulation.choices, initial=Emulation.AUTO)
    max_concurrent_jobs = forms.IntegerField(label=_("Jobs at once"), min_value=1, max_value=64, initial=4)
    enabled = forms.BooleanField(label=_("Enabled: new VMs may be placed here"), required=False, initial=True)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    @classmethod
    def for_host(cls, host: Host, data=None) -> HostForm:
        initial = {name: getattr(host, name) for name in cls.base_fields}
        return cls(data, initial=initial)


class HostAddForm(HostForm):
    # Carried from "Check" to "Add host": the key the admin was shown, and the URI it was read from.
    ssh_host_key_fingerprint = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    checked_uri = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput)


class TrustHostKeyForm(forms.Form):
    fingerprint = forms.CharField(max_length=100, widget=forms.HiddenInput)
