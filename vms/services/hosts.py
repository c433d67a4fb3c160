"""Hosts: adding them, checking them. The only code that writes Host rows besides the watcher."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import log as audit_log
from vms.choices import Emulation
from vms.hypervisor.connection import open_connection
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.hostinfo import describe_host
from vms.hypervisor.uris import BadURI, check_uri
from vms.models import Host


@dataclass
class HostCheck:
    reachable: bool
    lines: list[str] = field(default_factory=list)
    error: str = ""


def validate_host_fields(name: str, uri: str, exclude_pk: int | None = None) -> str:
    try:
        validate_slug(name)
    except ValidationError:
        raise ValidationError(
            {"name": _("Use letters, numbers, hyphens or underscores for a host name (for example 'kvm-01').")}
        ) from None
    try:
        uri = check_uri(uri, allow_test_driver=settings.LIBVIRT_ALLOW_TEST_DRIVER)
    except BadURI as exc:
        raise ValidationError({"uri": str(exc)}) from None
    others = Host.objects.exclude(pk=exclude_pk)
    if others.filter(name=name).exists():
        raise ValidationError({"name": _("A host named '%(name)s' already exists.") % {"name": name}})
    if others.filter(uri=uri).exists():
        raise ValidationError({"uri": _("This URI is already registered as another host.")})
    return uri


def probe(uri: str) -> dict:
    """Connect afresh and read what the host offers. Raises HypervisorError."""
    conn = open_connection(uri)
    try:
        return describe_host(conn)
    finally:
        conn.close()


def add_host(
    name: str,
    uri: str,
    *,
    enabled: bool = True,
    max_concurrent_jobs: int = 4,
    notes: str = "",
    emulation: str = Emulation.AUTO,
    require_reachable: bool = True,
    actor=None,
) -> Host:
    """Register a host. By default it must answer first, so a typo never becomes a dead host. Audited."""
    uri = validate_host_fields(name, uri)
    if not 1 <= max_concurrent_jobs <= 64:
        raise ValidationError({"max_concurrent_jobs": _("Choose between 1 and 64 concurrent jobs.")})
    facts: dict = {}
    if require_reachable:
        try:
            facts = probe(uri)
        except HypervisorError as exc:
            raise ValidationError({"uri": str(exc)}) from None
    with transaction.atomic():
        host = Host.objects.create(
            name=name,
            uri=uri,
            enabled=enabled,
            max_concurrent_jobs=max_concurrent_jobs,
            notes=notes,
            emulation=emulation,
            capabilities=facts,
            online=bool(facts),
            last_checked=timezone.now() if facts else None,
        )
        audit_log.record(actor, "host.add", host, uri=host.display_uri, enabled=enabled, reachable=bool(facts))
    return host


def update_host(host: Host, actor, **fields) -> Host:
    """Change what an admin may change of a host (name, URI, enabled, jobs, emulation, notes). Audited."""
    if "uri" in fields or "name" in fields:
        fields["uri"] = validate_host_fields(
            fields.get("name", host.name), fields.get("uri", host.uri), exclude_pk=host.pk
        )
    changed = {key: value for key, value in fields.items() if getattr(host, key) != value}
    with transaction.atomic():
        for key, value in changed.items():
            setattr(host, key, value)
        host.save()
        if changed:
            # Never the stored URI (it may hold credentials): its display form.
            shown = {key: host.display_uri if key == "uri" else value for key, value in changed.items()}
            audit_log.record(actor, "host.update", host, fields=shown)
    return host


def delete_host(host: Host, actor) -> None:
    """Forget a host; refused (ProtectedError) while VMs are still placed on it. Audited."""
    with transaction.atomic():
        audit_log.record(actor, "host.delete", host, uri=host.display_uri)
        host.delete()


def describe_lines(facts: dict, emulation: str = Emulation.AUTO) -> list[str]:
    lines = [
        _("libvirt %(lib)s, %(hv)s %(hvv)s")
        % {"lib": facts["libvirt_version"], "hv": facts["hypervisor"], "hvv": facts["hypervisor_version"]},
        _("%(arch)s, %(cpus)s CPUs, %(mem)s MiB memory (%(free)s MiB free)")
        % {"arch": facts["arch"], "cpus": facts["cpus"], "mem": facts["memory_mib"], "free": facts["free_memory_mib"]},
        _("libvirt offers KVM") if facts["kvm"] else _("KVM is not usable: software emulation only (slow guests)"),
    ]
    if emulation == Emulation.QEMU:
        lines.append(_("This host is set to software emulation: guests run as type 'qemu'."))
    for pool in facts["pools"]:
        if pool.get("active"):
            lines.append(
                _("Storage pool %(name)s: %(free)s GiB free of %(total)s GiB")
                % {"name": pool["name"], "free": pool["available"] // 2**30, "total": pool["capacity"] // 2**30}
            )
        else:
            lines.append(_("Storage pool %(name)s: inactive") % {"name": pool["name"]})
    lines.append(
        _("Networks: %(nets)s; bridges: %(bridges)s")
        % {
            "nets": ", ".join(n["name"] for n in facts["networks"]) or _("none"),
            "bridges": ", ".join(facts["bridges"]) or _("none"),
        }
    )
    return lines


def check_host(host: Host) -> HostCheck:
    """Connect afresh, read what the host offers, store it, and say it in words."""
    try:
        facts = probe(host.uri)
    except HypervisorError as exc:
        Host.objects.filter(pk=host.pk).update(online=False, last_checked=timezone.now(), last_error=str(exc))
        host.refresh_from_db()
        return HostCheck(False, [], str(exc))
    Host.objects.filter(pk=host.pk).update(online=True, capabilities=facts, last_checked=timezone.now(), last_error="")
    host.refresh_from_db()
    return HostCheck(True, [_("Reachable.")] + describe_lines(facts, host.emulation))
