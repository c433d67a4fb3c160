"""SSH hosts: their host keys, trusted on first use by a person, and SSH failures said in one sentence.

Why a person: the first key a host offers is only as good as the network it came over. The admin
compares the fingerprint we show with the one the host prints (`ssh-keygen -lf`), and only then is it
pinned. The database keeps the confirmed key (so every machine running a worker can write the same
known_hosts line) and the key offered but not confirmed yet; `vms/hypervisor/ssh.py` does the SSH.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit import log as audit_log
from audit.choices import AuditResult
from vms.hypervisor import ssh, tls
from vms.hypervisor.errors import HostUnreachable, HypervisorError
from vms.models import Host

KEYGEN_HINT = "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"


class SshProblem(Exception):
    """An SSH host cannot be used now; `str()` is one sentence naming the cause and the fix."""

    def __init__(self, sentence: str, kind: str = "", offered: ssh.HostKey | None = None) -> None:
        super().__init__(sentence)
        self.kind = kind
        self.offered = offered


def _label(host: str, port: int) -> str:
    return host if port == 22 else f"{host}:{port}"


def _identity() -> ssh.SshIdentity:
    identity = ssh.identity()
    if identity is None:
        raise SshProblem(
            _(
                "This server has no SSH key, so it cannot reach SSH hosts: make SSH_DIR writable or point "
                "SSH_KEY_FILE at a private key, then restart (the log says what failed)."
            )
        )
    return identity


def public_key_line() -> str:
    """The line an admin adds to ~root/.ssh/authorized_keys on each SSH host ('' without a key)."""
    try:
        return _identity().public_key()
    except (SshProblem, OSError):
        return ""


def sentence(kind: str, uri: str, *, old: str = "", new: str = "") -> str:
    """One sentence for an SSH failure of the host at `uri`: what went wrong and what to do."""
    host, port, user = ssh.ssh_target(uri) or ("?", 22, "root")
    label = _label(host, port)
    if kind == ssh.HOST_KEY_CHANGED:
        if old and new:
            return _(
                "The SSH host key of %(host)s changed (was %(old)s, now %(new)s): if the host was reinstalled, "
                "confirm the new key on the host page; otherwise someone may be intercepting the connection."
            ) % {"host": label, "old": old, "new": new}
        return _(
            "The SSH host key of %(host)s changed: if the host was reinstalled, check it and confirm the new "
            "key on the host page; otherwise someone may be intercepting the connection."
        ) % {"host": label}
    if kind == ssh.UNKNOWN_HOST_KEY:
        if new:
            return _(
                "The SSH host key of %(host)s is not confirmed yet: compare %(fingerprint)s with what "
                "'%(command)s' prints on the host, then confirm it on the host page."
            ) % {"host": label, "fingerprint": new, "command": KEYGEN_HINT}
        return _(
            "The SSH host key of %(host)s is not confirmed yet: check the host to see its fingerprint, then "
            "confirm it on the host page."
        ) % {"host": label}
    if kind == ssh.AUTH_REFUSED:
        return _(
            "%(host)s refused this server's SSH key: add this line to ~%(user)s/.ssh/authorized_keys on the "
            "host: %(line)s"
        ) % {"host": label, "user": user, "line": public_key_line() or _("(no key: see the server's log)")}
    if kind == ssh.NO_LIBVIRTD:
        return _(
            "%(host)s accepts our SSH key but libvirt does not answer there: start libvirtd on the host "
            "(systemctl start libvirtd) and check that virt-ssh-helper is installed."
        ) % {"host": label}
    return _(
        "%(host)s does not answer over SSH on port %(port)s: check that the host is up, that sshd runs there "
        "and that this server may reach that port."
    ) % {"host": label, "port": port}


def explain(exc: HypervisorError, uri: str) -> str:
    """The error's sentence: ours for an SSH (or TLS) failure of `uri`, libvirt's words otherwise."""
    # Only connecting is matched: a later call's message (a guest's console, say) is not about SSH.
    if not isinstance(exc, HostUnreachable):
        return str(exc)
    kind = exc.ssh_failure if ssh.ssh_target(uri) else None
    if kind:
        return sentence(kind, uri)
    tls_kind = tls.failure_kind(exc.host_message, uri)
    return tls_sentence(tls_kind, uri, str(exc)) if tls_kind else str(exc)


def tls_sentence(kind: str, uri: str, detail: str) -> str:
    """One sentence for a TLS failure of the host at `uri`, with libvirt's own words after it."""
    host = urlsplit(uri).hostname or "?"
    if kind == tls.UNTRUSTED_CERTIFICATE:
        text = _(
            "%(host)s and this server do not trust each other's TLS certificates: both must be signed by the "
            "CA in this server's cacert.pem, and the host's certificate must name %(host)s."
        )
    else:
        text = _(
            "This server lacks its TLS files for %(host)s: put cacert.pem, clientcert.pem and clientkey.pem "
            "where libvirt looks for them (or name their folder with ?pkipath= in the URI)."
        )
    return f"{text % {'host': host}} ({detail})"


def scan(uri: str) -> ssh.HostKey:
    """The key the SSH host at `uri` offers now (ssh-keyscan, a few seconds at most)."""
    target = ssh.ssh_target(uri)
    if target is None:
        raise SshProblem(_("This host is not reached over SSH; it has no SSH host key."))
    _identity()
    try:
        return ssh.scan_host_key(target[0], target[1])
    except ssh.SshError:
        raise SshProblem(sentence(ssh.UNREACHABLE, uri), ssh.UNREACHABLE) from None


def stored_key(host: Host, text: str) -> ssh.HostKey | None:
    target = ssh.ssh_target(host.uri)
    return ssh.HostKey.from_text(target[0], target[1], text) if target else None


def verify_offered_key(host: Host, actor=None) -> ssh.HostKey:
    """The key `host` offers, if it is the confirmed one; else SshProblem, with the offered key kept on
    the host for an admin to confirm. A changed key is audited (once per key seen)."""
    offered = scan(host.uri)
    pinned = stored_key(host, host.ssh_host_key)
    if pinned is None:
        # A known_hosts line the deployment wrote itself (the sandbox fleet, a provisioned file) is a
        # confirmation made before this host was registered: adopt it rather than ask again.
        pinned = ssh.pinned_key(_identity(), offered.host, offered.port)
        if pinned is not None and pinned.text == offered.text:
            with transaction.atomic():
                pin(host, offered)
                audit_log.record(actor, "host.trust_key", host, fingerprint=offered.fingerprint, source="known_hosts")
            return offered
    if pinned is not None and pinned.text == offered.text:
        if host.ssh_offered_host_key:
            Host.objects.filter(pk=host.pk).update(ssh_offered_host_key="")
            host.ssh_offered_host_key = ""
        # Another machine of this deployment may have confirmed it: its line goes into our file too.
        identity = _identity()
        if not ssh.is_pinned(identity, pinned):
            ssh.pin(identity, pinned)
        return offered
    newly_seen = host.ssh_offered_host_key != offered.text
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(ssh_offered_host_key=offered.text)
        host.ssh_offered_host_key = offered.text
        if pinned is not None and newly_seen:
            audit_log.record(
                actor,
                "host.key_changed",
                host,
                AuditResult.REFUSED,
                was=pinned.fingerprint,
                now=offered.fingerprint,
            )
    if pinned is None:
        raise SshProblem(
            sentence(ssh.UNKNOWN_HOST_KEY, host.uri, new=offered.fingerprint), ssh.UNKNOWN_HOST_KEY, offered
        )
    raise SshProblem(
        sentence(ssh.HOST_KEY_CHANGED, host.uri, old=pinned.fingerprint, new=offered.fingerprint),
        ssh.HOST_KEY_CHANGED,
        offered,
    )


def offered_matching(uri: str, fingerprint: str, field: str = "fingerprint") -> ssh.HostKey:
    """The key the host at `uri` offers now, if its fingerprint is the one the admin saw; else a
    ValidationError on `field` (nothing is pinned)."""
    try:
        offered = scan(uri)
    except SshProblem as exc:
        raise ValidationError({field: str(exc)}) from None
    fingerprint = (fingerprint or "").strip()
    if offered.fingerprint != fingerprint:
        raise ValidationError(
            {
                field: _(
                    "%(host)s now offers another SSH host key (%(offered)s), not the one you confirmed "
                    "(%(given)s): check the host again and compare before confirming."
                )
                % {
                    "host": _label(offered.host, offered.port),
                    "offered": offered.fingerprint,
                    "given": fingerprint or _("none"),
                }
            }
        )
    return offered


def pin(host: Host, key: ssh.HostKey) -> None:
    """Record `key` as the host's confirmed key and write it to our known_hosts."""
    Host.objects.filter(pk=host.pk).update(
        ssh_host_key=key.text, ssh_host_key_fingerprint=key.fingerprint, ssh_offered_host_key=""
    )
    host.ssh_host_key, host.ssh_host_key_fingerprint, host.ssh_offered_host_key = key.text, key.fingerprint, ""
    ssh.pin(_identity(), key)


def trust_host_key(host: Host, fingerprint: str, actor) -> Host:
    """Confirm the key `host` offers now, whose fingerprint the admin saw and compared. Audited."""
    if not host.uses_ssh:
        raise ValidationError({"fingerprint": _("This host is not reached over SSH; it has no SSH host key.")})
    offered = offered_matching(host.uri, fingerprint)
    previous = host.ssh_host_key_fingerprint
    with transaction.atomic():
        try:
            pin(host, offered)
        except SshProblem as exc:
            raise ValidationError({"fingerprint": str(exc)}) from None
        audit_log.record(actor, "host.trust_key", host, fingerprint=offered.fingerprint, previous=previous or None)
    return host


def forget(uri: str) -> None:
    """Drop the known_hosts line of the host at `uri` unless another host still uses that address."""
    target = ssh.ssh_target(uri)
    identity = ssh.identity()
    if target is None or identity is None:
        return
    for other in Host.objects.exclude(uri=uri).only("uri"):
        other_target = ssh.ssh_target(other.uri)
        if other_target and other_target[:2] == target[:2]:
            return
    ssh.forget(identity, target[0], target[1])
