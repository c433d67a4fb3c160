"""VM templates: import from domain XML, typed edits through the domain XML engine, versions.

A template's source of truth is its `domain_xml`; the typed settings (memory, boot, network, ...) are
declared, read from it and written into it in `vms.domainxml.template`, never by string formatting.
The template's own columns (limits, disk layout, cloud-init) are declared once here, in `COLUMNS`.
Every change bumps the version and keeps the old content in a TemplateVersion, so VMs made earlier
are never affected (their own domain XML is stored on the VM row when they are provisioned).
The preview on a host (a libvirt call) is in `vms.services.template_preview`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from lxml import etree

from audit import log as audit_log
from vms.choices import BootMode, DiskFormat, DiskSource
from vms.domainxml import Domain, DomainXMLError, schema_issues
from vms.domainxml import template as template_xml
from vms.domainxml.template import (
    BOOL,
    CHOICE,
    INT,
    NOTE,
    PLACEHOLDER_NAME,
    TEXT,
    VOLUME,
    Setting,
    SettingError,
    SettingsError,
    TemplateSettings,
    read_settings,
)
from vms.domainxml.tree import remove_element
from vms.domainxml.vm import METADATA_NS
from vms.models import Image, ImageKind, TemplateVersion, VMTemplate
from vms.services.storage import POOL_NAME_RE, POOL_NAME_RULE

MAX_XML_BYTES = 512 * 1024


# --- the template's columns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column(Setting):
    """A template column the form and the API edit; its form field is built from it like a Setting's.

    The API takes these columns as the model declares them (`form_min`/`form_max` are the page's bounds).
    """

    versioned: bool = True  # part of what VMs get: kept in every version's `limits` (LIMIT_FIELDS)
    from_setting: str = ""  # always read back from this XML setting, so it cannot disagree with the XML


COLUMNS: tuple[Column, ...] = (
    Column("name", TEXT, gettext_noop("Name"), max_length=100, versioned=False),
    Column("description", NOTE, gettext_noop("Description"), required=False, versioned=False),
    Column("active", BOOL, gettext_noop("Users may request VMs from it"), versioned=False),
    Column("boot_mode", CHOICE, from_setting="boot_mode"),
    Column("default_vcpus", INT, from_setting="vcpus"),
    Column("max_vcpus", INT, gettext_noop("Most vCPUs a user may ask for"), form_min=1, form_max=512),
    Column("default_memory_mib", INT, from_setting="memory_mib"),
    Column("max_memory_mib", INT, gettext_noop("Most memory a user may ask for (MiB)"), form_min=16),
    Column("default_disk_gib", INT, gettext_noop("Disk size in GiB (default)"), form_min=1),
    Column("max_disk_gib", INT, gettext_noop("Largest disk a user may ask for (GiB)"), form_min=1),
    Column("disk_source", CHOICE, gettext_noop("Disk"), choices=tuple(DiskSource.choices)),
    Column("disk_format", CHOICE, gettext_noop("Disk format"), choices=tuple(DiskFormat.choices)),
    Column(
        "snapshot_limit",
        INT,
        gettext_noop("Snapshots per VM"),
        help=gettext_noop(
            "How many snapshots each VM made from this template may keep. Empty: the deployment's default "
            "(VM_SNAPSHOT_LIMIT); 0: none. Snapshots need qcow2 disks."
        ),
        required=False,
        min=0,
        max=1000,
    ),
    Column("base_image", VOLUME, gettext_noop("Base image"), max_length=255),  # an Image's volume name
    Column(
        "storage_pool",
        TEXT,
        gettext_noop("Storage pool for VM disks"),
        help=gettext_noop(
            "The libvirt storage pool on each host that VM disks are made in. Empty: the host's default "
            "pool. Only hosts with enough free space in it are chosen."
        ),
        max_length=64,
        required=False,
    ),
    Column("cloud_init", BOOL, gettext_noop("Configure the guest with cloud-init (SSH keys, host name)")),
    Column("requires_kvm", BOOL, gettext_noop("Only place on hosts with KVM")),
)
# Every column a create or an update may set.
EDITABLE_FIELDS = tuple(c.name for c in COLUMNS)
# The columns that say what a VM may ask for and how its disk is made; kept in every version.
LIMIT_FIELDS = tuple(c.name for c in COLUMNS if c.versioned)
# The columns the XML holds: column -> setting.
FROM_SETTINGS = {c.name: c.from_setting for c in COLUMNS if c.from_setting}


def translated(text: str | Promise) -> str | Promise:
    """A declared label or help (English, marked with gettext_noop), translated when shown."""
    return gettext_lazy(text) if isinstance(text, str) else text  # TextChoices labels are translated already


def snapshot(template: VMTemplate) -> dict[str, Any]:
    return {field: getattr(template, field) for field in LIMIT_FIELDS}


# --- parsing and validation -----------------------------------------------------------------------


def parse_domain(xml: Any, field: str = "domain_xml") -> Domain:
    """The document as a Domain, or one sentence (on `field`) saying why it cannot be one."""
    if isinstance(xml, bytes):
        size = len(xml)
    elif isinstance(xml, str):
        size = len(xml.encode("utf-8", "surrogatepass"))
    else:
        raise ValidationError({field: _("Paste or upload a libvirt domain XML document.")})
    if not size or not (xml.strip() if isinstance(xml, str) else xml.strip()):
        raise ValidationError({field: _("Paste or upload a libvirt domain XML document; this one is empty.")})
    if size > MAX_XML_BYTES:
        raise ValidationError(
            {
                field: _("This XML is %(size)d KiB; a domain XML document is at most %(max)d KiB.")
                % {"size": size // 1024, "max": MAX_XML_BYTES // 1024}
            }
        )
    try:
        return Domain.from_xml(xml)
    except DomainXMLError as exc:
        raise ValidationError({field: _("This is not a domain XML document: %(why)s.") % {"why": exc}}) from None


def check_schema(dom: Domain | str, field: str = "domain_xml") -> None:
    """libvirt's RelaxNG schema must accept the document; the first (located) problem is reported."""
    issues = schema_issues(dom)
    if issues:
        raise ValidationError(
            {
                field: _(
                    "libvirt's domain schema does not accept this XML at %(issue)s. Correct that element or attribute "
                    "and try again."
                )
                % {"issue": str(issues[0])}
            }
        )


# --- import ---------------------------------------------------------------------------------------


def _remove_children(el: etree._Element, tag: str) -> int:
    found = el.findall(tag)
    for child in found:
        remove_element(child)
    return len(found)


def strip_instance_parts(dom: Domain) -> list[str]:
    """Remove what belongs to one VM (identity, MACs, disk paths, addresses); return what was removed.

    Everything else is kept as it is. Each VM made from the template gets its own values for what
    is removed here (libvirt picks MACs and addresses; the provisioner sets name, UUID and disks).
    """
    notes: list[str] = []
    root = dom.element
    if "id" in root.attrib:
        del root.attrib["id"]
    if dom.name != PLACEHOLDER_NAME:
        notes.append(
            _("The domain name '%(name)s' was replaced by a placeholder: each VM gets its own name.")
            % {"name": dom.name}
        )
        dom.name = PLACEHOLDER_NAME
    if dom.uuid:
        dom.uuid = None
        notes.append(_("The UUID was removed: each VM gets its own."))
    if dom.metadata.get(METADATA_NS) is not None:
        dom.metadata.remove(METADATA_NS)
    if dom.os.nvram:
        dom.os.nvram = None
        notes.append(_("The NVRAM path was removed: libvirt makes one per VM."))

    addresses = 0
    for device in dom.devices.all():
        if device.address is not None:
            device.remove_address()
            addresses += 1
    if addresses:
        notes.append(
            _("%(n)d device addresses (PCI, drive, USB, ...) were removed: libvirt assigns them per VM.")
            % {"n": addresses}
        )

    macs = 0
    for iface in dom.devices.interfaces:
        macs += _remove_children(iface.element, "mac")
        _remove_children(iface.element, "target")  # the host's tap device name (vnet0, ...)
    if macs:
        notes.append(_("%(n)d MAC addresses were removed: each VM gets its own.") % {"n": macs})

    data_disks = [d for d in dom.devices.disks if d.device in ("disk", "lun", None)]
    for extra in data_disks[1:]:
        dom.devices.remove(extra)
        notes.append(
            _("Disk %(dev)s was removed: a template describes one disk, which each VM gets new.")
            % {"dev": extra.target_dev or "?"}
        )
    for disk in dom.devices.disks:
        path = disk.source
        _remove_children(disk.element, "backingStore")
        if path:
            disk.eject()
            if disk.removable:
                notes.append(
                    _("The CD-ROM/floppy image '%(path)s' was removed; choose an uploaded ISO instead.")
                    % {"path": path}
                )
            else:
                notes.append(_("The disk path '%(path)s' was removed: each VM gets its own volume.") % {"path": path})
        if disk.type not in ("file", "volume") and not disk.removable:
            disk.type = "file"  # the provisioner gives every VM a file volume from the default pool

    for graphics in dom.devices.graphics:
        if graphics.port not in (None, -1) and graphics.autoport is not True:
            graphics.port = -1
            graphics.autoport = True
            notes.append(
                _("The fixed %(kind)s port was replaced by an automatic one: two VMs cannot share a port.")
                % {"kind": (graphics.type or "").upper()}
            )
    for chardev in [*dom.devices.serials, *dom.devices.consoles, *dom.devices.channels]:
        if chardev.type in ("pty", "unix") and chardev.element.find("source") is not None:
            _remove_children(chardev.element, "source")  # /dev/pts/N or a per-VM socket path
    for seclabel in root.findall("seclabel"):
        if seclabel.get("type") == "dynamic":
            _remove_children(seclabel, "label")
            _remove_children(seclabel, "imagelabel")
    return notes


def _limits_from_domain(dom: Domain) -> dict[str, Any]:
    vcpus = dom.vcpu or 1
    memory_mib = max((dom.memory or 0) // 1024, 1)
    disks = [d for d in dom.devices.disks if not d.removable]
    fmt = disks[0].driver_type if disks else None
    return {
        "boot_mode": BootMode.KERNEL if dom.os.kernel else BootMode.BIOS,
        "default_vcpus": vcpus,
        "max_vcpus": max(vcpus, VMTemplate._meta.get_field("max_vcpus").default),
        "default_memory_mib": memory_mib,
        "max_memory_mib": max(memory_mib, VMTemplate._meta.get_field("max_memory_mib").default),
        "disk_source": DiskSource.EMPTY if disks else DiskSource.NONE,
        "disk_format": fmt if fmt in DiskFormat.values else DiskFormat.QCOW2,
    }


def check_template_name(name: Any, exclude_pk: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": _("Give the template a name.")})
    name = name.strip()
    if len(name) > 100 or any(ord(c) < 32 for c in name):
        raise ValidationError({"name": _("Use one line of at most 100 characters for the name.")})
    if VMTemplate.objects.exclude(pk=exclude_pk).filter(name=name).exists():
        raise ValidationError({"name": _("A template named '%(name)s' already exists.") % {"name": name}})
    return name


def import_template(name: str, xml: str | bytes, user, *, description: str = "", **fields: Any) -> VMTemplate:
    """A new template from a domain XML (pasted or uploaded, e.g. an existing VM's `virsh dumpxml`).

    Refused with one sentence, creating nothing, when the XML is malformed or libvirt's schema does
    not accept it. The notes on what was removed are on `template.import_notes`.
    """
    name = check_template_name(name)
    dom = parse_domain(xml, "xml")
    check_schema(dom, "xml")
    notes = strip_instance_parts(dom)
    check_schema(dom, "xml")
    data = {**_limits_from_domain(dom), **fields}
    template = _create(user, name=name, description=description, domain_xml=dom.to_xml(), **data)
    template.import_notes = notes
    return template


# --- typed settings (declared and applied in vms.domainxml.template) ------------------------------------


def _message(exc: DomainXMLError) -> str:
    if isinstance(exc, SettingError):
        return _(exc.message) % exc.params if exc.params else _(exc.message)
    return str(exc)


def apply_settings(xml: str, settings: TemplateSettings | dict[str, Any]) -> str:
    """The XML with the given typed settings applied (None = leave as is).

    Raises ValidationError keyed by setting name, with the engine's reason, for each one refused.
    """
    try:
        return template_xml.apply_settings(xml, settings)
    except SettingsError as exc:
        raise ValidationError({name: _message(error) for name, error in exc.errors.items()}) from None


# --- create, edit, versions ----------------------------------------------------------------------------


def _check_limits(data: dict[str, Any]) -> None:
    errors: dict[str, str] = {}
    pairs = (
        ("default_vcpus", "max_vcpus"),
        ("default_memory_mib", "max_memory_mib"),
        ("default_disk_gib", "max_disk_gib"),
    )
    for default, maximum in pairs:
        if data[default] < 1:
            errors[default] = _("Must be at least 1.")
        elif data[default] > data[maximum]:
            errors[maximum] = _("The maximum cannot be below the default (%(value)s).") % {"value": data[default]}
    if data["disk_source"] in (DiskSource.OVERLAY, DiskSource.COPY):
        if not data["base_image"]:
            errors["base_image"] = _("Choose the base image that each VM's disk starts from.")
        elif not Image.objects.filter(volume=data["base_image"], kind=ImageKind.BASE).exists():
            errors["base_image"] = _("No uploaded base image has the volume name '%(name)s'.") % {
                "name": data["base_image"]
            }
    if data.get("storage_pool") and not POOL_NAME_RE.match(data["storage_pool"]):
        errors["storage_pool"] = str(POOL_NAME_RULE)
    if data["disk_source"] == DiskSource.OVERLAY and data["disk_format"] != DiskFormat.QCOW2:
        errors["disk_format"] = _("An overlay on a base image is always qcow2; choose qcow2.")
    if errors:
        raise ValidationError(errors)


def _sync_from_xml(data: dict[str, Any], xml: str) -> None:
    """The XML is the truth for the defaults it holds (memory, vCPUs, boot mode)."""
    current = read_settings(xml)
    for column, setting in FROM_SETTINGS.items():
        data[column] = current[setting]


def _prepare_xml(xml: str, settings: TemplateSettings | dict | None) -> str:
    dom = parse_domain(xml)
    check_schema(dom)
    strip_instance_parts(dom)  # an admin may paste a whole `virsh dumpxml`; per-VM parts never stay
    xml = dom.to_xml()
    if settings:
        xml = apply_settings(xml, settings)
        check_schema(xml, "domain_xml")
    return xml


def _create(user, **data: Any) -> VMTemplate:
    defaults = {f.name: f.get_default() for f in VMTemplate._meta.fields if f.name in LIMIT_FIELDS}
    data = {**defaults, **data}
    _sync_from_xml(data, data["domain_xml"])
    _check_limits(data)
    with transaction.atomic():
        template = VMTemplate.objects.create(version=1, **data)
        _record_version(template, user)
        audit_log.record(user, "template.create", template, version=1)
    return template


def create_template(
    user, *, name: str, domain_xml: str, settings: TemplateSettings | dict | None = None, **fields: Any
) -> VMTemplate:
    """A new template from XML plus typed settings; per-VM parts of the XML are removed first."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({"__all__": _("Unknown template fields: %(f)s.") % {"f": ", ".join(sorted(unknown))}})
    name = check_template_name(name)
    xml = _prepare_xml(domain_xml, settings)
    return _create(user, name=name, domain_xml=xml, **fields)


def update_template(
    template: VMTemplate,
    user,
    *,
    domain_xml: str | None = None,
    settings: TemplateSettings | dict | None = None,
    **fields: Any,
) -> VMTemplate:
    """Change a template; when anything changed the version goes up and the old content is kept."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({"__all__": _("Unknown template fields: %(f)s.") % {"f": ", ".join(sorted(unknown))}})
    if "name" in fields:
        fields["name"] = check_template_name(fields["name"], exclude_pk=template.pk)
    xml = _prepare_xml(domain_xml if domain_xml is not None else template.domain_xml, settings)
    data = {**{f: getattr(template, f) for f in EDITABLE_FIELDS}, **fields, "domain_xml": xml}
    _sync_from_xml(data, xml)
    _check_limits(data)
    changed = {k: v for k, v in data.items() if getattr(template, k) != v}
    if not changed:
        return template
    versioned = set(changed) - {"name", "description", "active"}
    with transaction.atomic():
        locked = VMTemplate.objects.select_for_update().get(pk=template.pk)
        for key, value in changed.items():
            setattr(locked, key, value)
        if versioned:
            locked.version += 1
        locked.save()
        if versioned:
            _record_version(locked, user)
        audit_log.record(user, "template.update", locked, fields=sorted(changed), version=locked.version)
    return locked


def delete_template(template: VMTemplate, user) -> None:
    """Delete a template (the API refuses while VMs made from it exist: retire it instead). Audited."""
    with transaction.atomic():
        audit_log.record(user, "template.delete", template, version=template.version)
        template.delete()


def _record_version(template: VMTemplate, user) -> TemplateVersion:
    return TemplateVersion.objects.create(
        template=template,
        version=template.version,
        domain_xml=template.domain_xml,
        limits=snapshot(template),
        created_by=user if user is not None and user.is_authenticated else None,
    )


def version_of(template: VMTemplate, version: int) -> TemplateVersion | None:
    return template.versions.filter(version=version).first()
