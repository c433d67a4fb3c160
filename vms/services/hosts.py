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
from vms.hypervisor import ssh
from vms.hypervisor.connection import open_connection
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.hostinfo import describe_host
from vms.hypervisor.uris import BadURI, check_uri
from vms.models import Host
from vms.services import ssh_trust


@dataclass
class HostCheck:
    reachable: bool
    lines: list[str] = field(default_factory=list)
    error: str = ""
    # SSH hosts: the key offered and not confirmed yet (first contact, or changed), for the admin to compare.
    offered_fingerprint: str = ""


@dataclass
class HostPreview:
    """What a host would be, checked before it is saved (the hosts page's first step)."""

    uri: str
    facts: dict
    lines: list[str]
    fingerprint: str = ""  # SSH hosts: the key offered, which "Add host" pins


def validate_host_fields(name: str, uri: str, exclude_pk: int | None = None) -> str:
    """The URI as stored, or a ValidationError with every problem of the name and the URI at once."""
    errors: dict[str, str] = {}
    try:
        validate_slug(name)
    except ValidationError:
        errors["name"] = _("Use letters, numbers, hyphens or underscores for a host name (for example 'kvm-01').")
    try:
        uri = check_uri(uri, allow_test_driver=settings.LIBVIRT_ALLOW_TEST_DRIVER)
    except BadURI as exc:
        errors["uri"] = str(exc)
    others = Host.objects.exclude(pk=exclude_pk)
    if "name" not in errors and others.filter(name=name).exists():
        errors["name"] = _("A host named '%(name)s' already exists.") % {"name": name}
    if "uri" not in errors and others.filter(uri=uri).exists():
        errors["uri"] = _("This URI is already registered as another host.")
    if errors:
        raise ValidationError(errors)
    return uri


def probe(uri: str, host_key: ssh.HostKey | None = None) -> dict:
    """Connect afresh and read what the host offers. Raises HypervisorError.

    With `host_key`, an SSH host is reached trusting that key alone (nothing pinned yet)."""
    if host_key is not None and (identity := ssh.identity()) is not None:
        with ssh.trusting_only(identity, host_key) as only:
            conn = open_connection(uri, only)
    else:
        conn = open_connection(uri)
    try:
        return describe_host(conn)
    finally:
        conn.close()


def _probe_or_refuse(uri: str, host_key: ssh.HostKey | None) -> dict:
    try:
        return probe(uri, host_key)
    except HypervisorError as exc:
        raise ValidationError({"uri": ssh_trust.explain(exc, uri)}) from None


def preview_host(name: str, uri: str, emulation: str = Emulation.AUTO, exclude_pk: int | None = None) -> HostPreview:
    """Check a host before saving it: the report, and for SSH hosts the key to confirm. Writes nothing."""
    uri = validate_host_fields(name, uri, exclude_pk=exclude_pk)
    key = None
    if ssh.ssh_target(uri):
        try:
            key = ssh_trust.scan(uri)
        except ssh_trust.SshProblem as exc:
            raise ValidationError({"uri": str(exc)}) from None
    facts = _probe_or_refuse(uri, key)
    lines = describe_lines(facts, emulation)
    return HostPreview(uri, facts, lines, key.fingerprint if key else "")


def add_host(
    name: str,
    uri: str,
    *,
    enabled: bool = True,
    max_concurrent_jobs: int = 4,
    notes: str = "",
    emulation: str = Emulation.AUTO,
    require_reachable: bool = True,
    ssh_fingerprint: str = "",
    actor=None,
) -> Host:
    """Register a host. By default it must answer first, so a typo never becomes a dead host. Audited.

    An SSH host that must answer needs `ssh_fingerprint`, the fingerprint of its key as the admin saw
    and compared it (unless our known_hosts already pins that key): the key is pinned with the host.
    Registered without answering, its key is read if it can be and waits for confirmation."""
    uri = validate_host_fields(name, uri)
    if not 1 <= max_concurrent_jobs <= 64:
        raise ValidationError({"max_concurrent_jobs": _("Choose between 1 and 64 concurrent jobs.")})
    key, offered = _key_to_pin(uri, ssh_fingerprint, require_reachable)
    facts: dict = {}
    if require_reachable:
        facts = _probe_or_refuse(uri, key)
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
            ssh_offered_host_key=offered.text if offered else "",
        )
        extra = {"fingerprint": key.fingerprint} if key else {}
        audit_log.record(actor, "host.add", host, uri=host.display_uri, enabled=enabled, reachable=bool(facts), **extra)
        if key is not None:
            ssh_trust.pin(host, key)
    return host


def _key_to_pin(uri: str, fingerprint: str, required: bool) -> tuple[ssh.HostKey | None, ssh.HostKey | None]:
    """(the key to pin with a new host, the key it offers that waits for confirmation)."""
    target = ssh.ssh_target(uri)
    if target is None:
        return None, None
    if not required and not fingerprint:
        try:
            return None, ssh_trust.scan(uri)
        except ssh_trust.SshProblem:
            return None, None  # nothing answers yet; the first check reads the key
    try:
        offered = ssh_trust.scan(uri)
    except ssh_trust.SshProblem as exc:
        raise ValidationError({"uri": str(exc)}) from None
    identity = ssh.identity()
    if not fingerprint and identity is not None and ssh.is_pinned(identity, offered):
        return offered, None  # the deployment's known_hosts already trusts this key
    if not fingerprint:
        raise ValidationError(
            {"ssh_host_key_fingerprint": ssh_trust.sentence(ssh.UNKNOWN_HOST_KEY, uri, new=offered.fingerprint)}
        )
    return ssh_trust.offered_matching(uri, fingerprint, field="ssh_host_key_fingerprint"), None


def update_host(host: Host, actor, **fields) -> Host:
    """Change what an admin may change of a host (name, URI, enabled, jobs, emulation, notes). Audited."""
    if "uri" in fields or "name" in fields:
        fields["uri"] = validate_host_fields(
            fields.get("name", host.name), fields.get("uri", host.uri), exclude_pk=host.pk
        )
    changed = {key: value for key, value in fields.items() if getattr(host, key) != value}
    old_uri = host.uri
    moved = "uri" in changed and ssh.ssh_target(changed["uri"]) != ssh.ssh_target(old_uri)
    with transaction.atomic():
        for key, value in changed.items():
            setattr(host, key, value)
        if moved:
            # Another address is another machine: its key is confirmed afresh at the next check.
            host.ssh_host_key = host.ssh_host_key_fingerprint = host.ssh_offered_host_key = ""
        host.save()
        if changed:
            # Never the stored URI (it may hold credentials): its display form.
            shown = {key: host.display_uri if key == "uri" else value for key, value in changed.items()}
            audit_log.record(actor, "host.update", host, fields=shown)
    return host


def delete_host(host: Host, actor) -> None:
    """Forget a host; refused (ProtectedError) while VMs are still placed on it. Audited."""
    uri = host.uri
    with transaction.atomic():
        audit_log.record(actor, "host.delete", host, uri=host.display_uri)
        host.delete()
    ssh_trust.forget(uri)


def vm_count(host: Host) -> int:
    """The VM records that keep a host from being removed (deleted VMs keep their record and host)."""
    return host.vms.count()


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


def _unreachable(host: Host, error: str, offered: str = "") -> HostCheck:
    Host.objects.filter(pk=host.pk).update(online=False, last_checked=timezone.now(), last_error=error)
    host.refresh_from_db()
    return HostCheck(False, [], error, offered)


def check_host(host: Host, actor=None) -> HostCheck:
    """Connect afresh, read what the host offers, store it, and say it in words.

    SSH hosts first show their key (a few seconds at most): one nobody confirmed, or one that differs
    from the confirmed key, stops the check with a sentence (and the key waits on the host page)."""
    key_line = []
    if host.uses_ssh:
        try:
            key = ssh_trust.verify_offered_key(host, actor)
        except ssh_trust.SshProblem as exc:
            return _unreachable(host, str(exc), exc.offered.fingerprint if exc.offered else "")
        key_line = [_("SSH host key %(fingerprint)s (confirmed)") % {"fingerprint": key.fingerprint}]
    try:
        facts = probe(host.uri)
    except HypervisorError as exc:
        return _unreachable(host, ssh_trust.explain(exc, host.uri))
    Host.objects.filter(pk=host.pk).update(online=True, capabilities=facts, last_checked=timezone.now(), last_error="")
    host.refresh_from_db()
    return HostCheck(True, [_("Reachable.")] + key_line + describe_lines(facts, host.emulation))
