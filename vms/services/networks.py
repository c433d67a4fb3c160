"""libvirt networks on hosts: what each host has, defining new ones on several hosts, start, stop, autostart,
delete. The rules live here; the page and the API only parse and call.

Reading: pages never call libvirt while rendering. What a host's networks are is a host fact, read with
its other facts (hostinfo.describe_host) into Host.capabilities by the host check and by the watcher on
every connect, and re-read here after each network action; the page and GET .../networks/ read that copy.

Changing: the actions talk to the hosts directly in the request, like "Test connection" (hosts.check_host),
not as jobs. A network is defined, started or stopped in milliseconds, and the admin needs the per-host
answer at once (which hosts have the network now, which failed and why); an image copy is a job because
it moves gigabytes for minutes. A host that does not answer fails only its own part.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

import libvirt
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _

from audit import log as audit_log
from audit.choices import AuditResult
from vms.choices import GONE_STATES
from vms.domainxml.interfaces import wiring_of
from vms.hypervisor import networks as libvirt_networks
from vms.hypervisor.connection import open_connection
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.hostinfo import read_bridges, read_networks
from vms.models import Host, HostNetwork, VirtualMachine

MODES = libvirt_networks.MODES
# libvirt takes almost any name; these are names that are safe in a file name, a URL and a shell.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
# A Linux interface name: at most 15 characters (IFNAMSIZ - 1).
BRIDGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")
# RFC 1918 only: a network the dashboard makes must never route or NAT a public range.
PRIVATE_RANGES = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
MIN_PREFIX, MAX_PREFIX = 8, 30  # /30 leaves the host's address and one guest


@dataclass(frozen=True)
class NetworkOrder:
    """A valid request to define one network on some hosts (from validate_order)."""

    name: str
    hosts: list[Host]
    mode: str
    bridge: str = ""
    subnet: ipaddress.IPv4Network | None = None
    dhcp: bool = False


@dataclass
class HostResult:
    host: Host
    network: HostNetwork | None = None  # set when the host has the network now
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class NetworkView:
    """One network on one host as the page and the API show it (stored facts + our VMs using it)."""

    row: HostNetwork
    facts: dict
    vms: list[str] = field(default_factory=list)

    def __getattr__(self, key: str):
        if key in ("row", "facts", "vms"):
            raise AttributeError(key)
        return self.facts.get(key, "")

    @property
    def pk(self) -> int:
        return self.row.pk


# --- reading: stored facts only, never libvirt -------------------------------------------------------
def stored_networks(host: Host) -> list[dict]:
    return list(host.capabilities.get("networks") or [])


def stored_bridges(host: Host) -> list[str]:
    return list(host.capabilities.get("bridges") or [])


def _sync_rows(host: Host, names: set[str]) -> dict[str, HostNetwork]:
    """The HostNetwork rows of a host, one per network it reported: new names get a row (so they get an
    id), names it no longer has lose theirs. Idempotent; runs when the networks are read or changed."""
    rows = {row.name: row for row in HostNetwork.objects.filter(host=host)}
    gone = [row.pk for name, row in rows.items() if name not in names]
    if gone:
        HostNetwork.objects.filter(pk__in=gone).delete()
    for name in sorted(names - rows.keys()):
        rows[name], _created = HostNetwork.objects.get_or_create(host=host, name=name)
    return {name: row for name, row in rows.items() if name in names}


def vms_using(host: Host, name: str, bridge: str = "") -> list[VirtualMachine]:
    """Our VMs on the host whose domain XML joins this network (by name, or its bridge directly)."""
    users = []
    for vm in VirtualMachine.objects.filter(host=host).exclude(state__in=GONE_STATES).order_by("name"):
        wiring = wiring_of(vm.domain_xml)
        if name in wiring.networks or (bridge and bridge in wiring.bridges):
            users.append(vm)
    return users


def host_networks(host: Host) -> list[NetworkView]:
    facts = stored_networks(host)
    rows = _sync_rows(host, {n["name"] for n in facts})
    vms = list(VirtualMachine.objects.filter(host=host).exclude(state__in=GONE_STATES).order_by("name"))
    wirings = [(vm.name, wiring_of(vm.domain_xml)) for vm in vms]
    views = []
    for entry in sorted(facts, key=lambda n: n["name"]):
        bridge = entry.get("bridge", "")
        using = [name for name, w in wirings if entry["name"] in w.networks or (bridge and bridge in w.bridges)]
        views.append(NetworkView(rows[entry["name"]], entry, using))
    return views


def network_view(row: HostNetwork) -> NetworkView | None:
    """The view of one network by its id; None when the host no longer reports it."""
    return next((v for v in host_networks(row.host) if v.row.pk == row.pk), None)


# --- validating ---------------------------------------------------------------------------------------
def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """An IPv4 private subnet from CIDR text, or ValidationError({'subnet': ...}) saying what is wrong."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"subnet": _("Give the subnet in CIDR form, for example 192.168.150.0/24.")})
    try:
        subnet = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            suggestion = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValidationError(
                {"subnet": _("'%(text)s' is not a subnet; write it like 192.168.150.0/24.") % {"text": text}}
            ) from None
        raise ValidationError(
            {
                "subnet": _("'%(text)s' has host bits set; did you mean %(net)s?")
                % {"text": text, "net": suggestion.with_prefixlen}
            }
        ) from None
    if subnet.version != 4:
        raise ValidationError({"subnet": _("Only IPv4 subnets are supported.")})
    if not any(subnet.subnet_of(private) for private in PRIVATE_RANGES):
        raise ValidationError(
            {
                "subnet": _(
                    "%(net)s is not a private range; use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16."
                )
                % {"net": subnet.with_prefixlen}
            }
        )
    if not MIN_PREFIX <= subnet.prefixlen <= MAX_PREFIX:
        raise ValidationError(
            {"subnet": _("Use a prefix between /%(min)d and /%(max)d.") % {"min": MIN_PREFIX, "max": MAX_PREFIX}}
        )
    return subnet


def validate_order(
    *, name: str, hosts: list[Host], mode: str, bridge: str = "", subnet: str = "", dhcp: bool = False
) -> NetworkOrder:
    """Every problem with the input at once (field -> messages), checked against the hosts' stored facts."""
    errors: dict[str, list[str]] = {}
    name, bridge = (name or "").strip(), (bridge or "").strip()
    if not NAME_RE.match(name):
        errors.setdefault("name", []).append(
            _("Use 1 to 50 letters, digits, dots, hyphens or underscores for the name (first a letter or digit).")
        )
    if not hosts:
        errors.setdefault("hosts", []).append(_("Choose at least one host."))
    if mode not in MODES:
        errors.setdefault("mode", []).append(_("Choose NAT, routed or bridge as the mode."))
    parsed = None
    if mode == "bridge":
        if not bridge:
            errors.setdefault("bridge", []).append(_("A bridge-backed network needs the name of a bridge on the host."))
        elif not BRIDGE_RE.match(bridge):
            errors.setdefault("bridge", []).append(
                _("A bridge name has 1 to 15 letters, digits, dots, hyphens or underscores.")
            )
        else:
            lacking = [h.name for h in hosts if h.capabilities.get("bridges_known") and bridge not in stored_bridges(h)]
            if lacking:
                errors.setdefault("bridge", []).append(
                    _("There is no bridge %(bridge)s on %(hosts)s (as of the last host check).")
                    % {"bridge": bridge, "hosts": ", ".join(lacking)}
                )
    elif mode in MODES:
        try:
            parsed = parse_subnet(subnet)
        except ValidationError as exc:
            errors.setdefault("subnet", []).extend(exc.message_dict["subnet"])
    if "name" not in errors:
        taken = [h.name for h in hosts if any(n.get("name") == name for n in stored_networks(h))]
        if taken:
            errors.setdefault("name", []).append(
                _("A network named %(name)s already exists on %(hosts)s.") % {"name": name, "hosts": ", ".join(taken)}
            )
    if parsed is not None:
        for host in hosts:
            for net in stored_networks(host):
                try:
                    theirs = ipaddress.ip_network(net.get("subnet") or "", strict=False)
                except ValueError:
                    continue
                if theirs.version == 4 and theirs.overlaps(parsed):
                    errors.setdefault("subnet", []).append(
                        _("%(net)s overlaps network %(other)s (%(theirs)s) on %(host)s.")
                        % {"net": parsed, "other": net["name"], "theirs": theirs, "host": host.name}
                    )
    if errors:
        raise ValidationError(errors)
    return NetworkOrder(
        name, list(hosts), mode, bridge if mode == "bridge" else "", parsed, bool(dhcp) and parsed is not None
    )


# --- changing -----------------------------------------------------------------------------------------
def _failure(sentence: str, name: str, host: Host, exc: HypervisorError) -> str:
    """The sentence of a libvirt failure: what failed, on which host, and the host's own message."""
    return sentence % {"name": name, "host": host.name, "message": exc.host_message or str(exc)}


def _define_failed() -> str:
    return _("Could not define network %(name)s on %(host)s: %(message)s")


def _store_facts(host: Host, conn) -> None:
    """Re-read the host's networks and bridges into its stored facts, so the page shows the change."""
    try:
        networks = read_networks(conn)
        bridges = read_bridges(conn)
    except libvirt.libvirtError:  # the action is done; the next host check brings the facts
        return
    with transaction.atomic():
        locked = Host.objects.select_for_update().get(pk=host.pk)
        facts = dict(locked.capabilities or {})
        facts["networks"] = networks
        if bridges is not None:
            facts.update(bridges=bridges, bridges_known=True)
        Host.objects.filter(pk=host.pk).update(capabilities=facts)
    host.capabilities = facts


def define_network(actor, order: NetworkOrder) -> list[HostResult]:
    """Define, start and autostart the network on each host of the order, one host at a time.

    Each host stands alone: a host that fails keeps nothing of it (hypervisor.networks.define_and_start
    removes what it made) and the others keep theirs. One result per host; audited per host.
    """
    xml = libvirt_networks.network_xml(
        order.name, order.mode, subnet=order.subnet, dhcp=order.dhcp, bridge=order.bridge
    )
    details = {"mode": order.mode, "subnet": str(order.subnet or ""), "bridge": order.bridge, "dhcp": order.dhcp}
    results = []
    for host in order.hosts:
        result = HostResult(host)
        try:
            conn = open_connection(host.uri)
        except HypervisorError as exc:
            result.error = _failure(_define_failed(), order.name, host, exc)
        else:
            try:
                libvirt_networks.define_and_start(conn, xml, order.name)
            except HypervisorError as exc:
                result.error = _failure(_define_failed(), order.name, host, exc)
            _store_facts(host, conn)
            conn.close()
        rows = _sync_rows(host, {n["name"] for n in stored_networks(host)})
        if not result.error:
            result.network = rows.get(order.name) or HostNetwork.objects.get_or_create(host=host, name=order.name)[0]
        outcome = AuditResult.OK if result.ok else AuditResult.FAILED
        audit_log.record(
            actor,
            "network.define",
            result.network or host,
            outcome,
            host=host.name,
            network=order.name,
            **details,
            **({"error": result.error} if result.error else {}),
        )
        results.append(result)
    return results


def _act(actor, row: HostNetwork, verb: str, sentence: str, call, **details) -> None:
    """Run one change on the network's host; ValidationError with the host's message if it fails."""
    host = row.host
    try:
        conn = open_connection(host.uri)
    except HypervisorError as exc:
        message = _failure(sentence, row.name, host, exc)
        audit_log.record(actor, verb, row, AuditResult.FAILED, host=host.name, error=message, **details)
        raise ValidationError(message) from None
    try:
        call(conn)
    except HypervisorError as exc:
        message = _failure(sentence, row.name, host, exc)
        audit_log.record(actor, verb, row, AuditResult.FAILED, host=host.name, error=message, **details)
        raise ValidationError(message) from None
    finally:
        _store_facts(host, conn)
        conn.close()
    audit_log.record(actor, verb, row, host=host.name, **details)


def start_network(actor, row: HostNetwork) -> None:
    sentence = _("Could not start network %(name)s on %(host)s: %(message)s")
    _act(actor, row, "network.start", sentence, lambda conn: libvirt_networks.start(conn, row.name))


def stop_network(actor, row: HostNetwork) -> None:
    """Stop the network. Not refused while VMs use it (restarting a network is a normal repair); the
    page asks first, saying their interfaces lose their link."""
    sentence = _("Could not stop network %(name)s on %(host)s: %(message)s")
    _act(actor, row, "network.stop", sentence, lambda conn: libvirt_networks.stop(conn, row.name))


def set_autostart(actor, row: HostNetwork, on: bool) -> None:
    sentence = _("Could not change autostart of network %(name)s on %(host)s: %(message)s")
    _act(
        actor,
        row,
        "network.autostart",
        sentence,
        lambda conn: libvirt_networks.set_autostart(conn, row.name, on),
        autostart=on,
    )


def delete_network(actor, row: HostNetwork) -> None:
    """Stop and undefine the network on its host; refused (ProtectedError, nothing changes) while our
    VMs use it, naming them."""
    _refuse_if_used(
        actor, row, "network.delete", _("Network %(name)s on %(host)s is used by %(vms)s; delete or move them first.")
    )
    sentence = _("Could not delete network %(name)s on %(host)s: %(message)s")
    _act(actor, row, "network.delete", sentence, lambda conn: libvirt_networks.remove(conn, row.name))
    _sync_rows(row.host, {n["name"] for n in stored_networks(row.host)})


def _refuse_if_used(actor, row: HostNetwork, verb: str, sentence: str) -> None:
    facts = next((n for n in stored_networks(row.host) if n.get("name") == row.name), {})
    users = vms_using(row.host, row.name, facts.get("bridge", ""))
    if users:
        message = sentence % {"name": row.name, "host": row.host.name, "vms": ", ".join(vm.name for vm in users)}
        audit_log.record(actor, verb, row, AuditResult.REFUSED, host=row.host.name, reason=message)
        raise ProtectedError(message, users)
