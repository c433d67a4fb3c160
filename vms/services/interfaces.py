"""A VM's network interfaces: what it has (with the addresses its host saw), and the rules for adding
one, removing one, and setting a link up or down. The page and the API only parse and call.

Where a NIC may go: one of the VM's host's libvirt networks or host bridges, as the host last reported
them (Host.capabilities, read by the host check and by the watcher on every connect; see
vms/services/networks.py). Pages never ask libvirt.

MAC addresses: every NIC the dashboard knows has a MACAddress row, unique in the whole fleet, so a new
NIC never gets the MAC of another VM's NIC on another host (libvirt only checks its own host). A new
NIC's MAC is reserved in the transaction that queues its job (`prepare`), so two requests at once
never get the same one. The rows follow the domain XML (`sync_macs`, after every change and when a VM
is created or first seen); a deleted VM's rows are freed.
"""

from __future__ import annotations

import json
import logging
import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from jobs.models import Job
from live.redis import sync_redis
from vms.choices import GONE_STATES, VMChange
from vms.hypervisor.nics import MODELS, Nic, nics_of, random_mac
from vms.models import MACAddress, VirtualMachine
from vms.services.changes import request_change
from vms.services.networks import stored_bridges, stored_networks
from vms.watcher.store import addresses_key

log = logging.getLogger(__name__)

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
MAC_TRIES = 20


# --- reading ------------------------------------------------------------------------------------------
def offered_networks(vm: VirtualMachine) -> list[str]:
    """The libvirt networks a new NIC of this VM may join: the active ones of its host."""
    if vm.host is None:
        return []
    return sorted(n["name"] for n in stored_networks(vm.host) if n.get("active") and n.get("name"))


def offered_bridges(vm: VirtualMachine) -> list[str]:
    """The host bridges a new NIC may join directly, without the bridges libvirt's own networks made
    (a NIC joins those through its network, so that libvirt's DHCP and firewall rules apply)."""
    if vm.host is None:
        return []
    of_networks = {n.get("bridge") for n in stored_networks(vm.host)}
    return [b for b in stored_bridges(vm.host) if b not in of_networks]


def _by_mac(raw) -> dict[str, list[str]]:
    record = json.loads(raw) if raw else {}
    return {mac.lower(): list(found) for mac, found in (record.get("by_mac") or {}).items()}


def seen_addresses(vm: VirtualMachine) -> dict[str, list[str]]:
    """The addresses the VM's host last saw per MAC (lease, agent, ARP, neighbour table), if recent."""
    return seen_addresses_many([vm]).get(vm.uuid, {})


def seen_addresses_many(vms) -> dict:
    """`seen_addresses` of many VMs (a page of a list) in one Redis round trip: {uuid: {mac: [address]}}.
    VMs that are gone have none."""
    live = [vm for vm in vms if vm.state not in GONE_STATES]
    if not live:
        return {}
    try:
        raws = sync_redis().mget([addresses_key(vm.uuid) for vm in live])
    except Exception:  # an address is a convenience; Redis trouble must not break the page or the API
        log.warning("could not read the addresses of %d VM(s)", len(live), exc_info=True)
        return {}
    return {vm.uuid: _by_mac(raw) for vm, raw in zip(live, raws, strict=True)}


def interfaces_of(vm: VirtualMachine, seen: dict[str, list[str]] | None = None) -> list[dict]:
    """The VM's NICs as the page and the API show them: {mac, type, source, model, link, addresses}.
    `seen`: its addresses when already read (seen_addresses_many), else they are read here."""
    if seen is None:
        seen = seen_addresses(vm)
    return [_shown(nic, seen.get(nic.mac, [])) for nic in nics_of(vm.domain_xml)]


def _shown(nic: Nic, addresses: list[str]) -> dict:
    return {
        "mac": nic.mac,
        "type": nic.type,
        "source": nic.source,
        "model": nic.model,
        "link": nic.link,
        "addresses": addresses,
    }


def addresses_of(vm: VirtualMachine) -> dict[str, list[str]]:
    """The VM's IP addresses by interface (MAC): every NIC, an empty list where none is known."""
    return {nic["mac"]: nic["addresses"] for nic in interfaces_of(vm)}


# --- MAC addresses ------------------------------------------------------------------------------------
def normalize_mac(text: str) -> str:
    """A MAC as stored (lower case, colons) or ValidationError({'mac': ...}) saying what is wrong."""
    mac = (text or "").strip().lower().replace("-", ":")
    if not MAC_RE.match(mac):
        raise ValidationError(
            {"mac": _("'%(mac)s' is not a MAC address; write it like 52:54:00:12:34:56.") % {"mac": text}}
        )
    if int(mac[:2], 16) & 1:
        raise ValidationError(
            {"mac": _("%(mac)s is a multicast address; a network card needs a unicast one.") % {"mac": mac}}
        )
    return mac


def free_macs_of_gone_vms() -> int:
    """Free the MACs of deleted VMs (their rows stay as records; their MACs may be given again)."""
    deleted, _detail = MACAddress.objects.filter(vm__state__in=GONE_STATES).delete()
    return deleted


def reserve_mac(vm: VirtualMachine, wanted: str = "") -> str:
    """Reserve a MAC for a new NIC of `vm`: `wanted` if free, else a fresh random one in 52:54:00.
    Runs inside the caller's transaction; the unique constraint settles a race between two requests."""
    free_macs_of_gone_vms()
    if wanted:
        try:
            with transaction.atomic():
                MACAddress.objects.create(mac=wanted, vm=vm)
        except IntegrityError:
            raise ValidationError(
                {"mac": _("MAC address %(mac)s is already in use in the fleet.") % {"mac": wanted}}
            ) from None
        return wanted
    for _attempt in range(MAC_TRIES):
        mac = random_mac()
        try:
            with transaction.atomic():
                MACAddress.objects.create(mac=mac, vm=vm)
        except IntegrityError:
            continue
        return mac
    raise ValidationError({"mac": _("No free MAC address was found; try again.")})


def release_mac(vm: VirtualMachine, mac: str) -> None:
    MACAddress.objects.filter(vm=vm, mac=mac.lower()).delete()


def sync_macs(vm: VirtualMachine, xml: str | None = None) -> list[str]:
    """Make the VM's MACAddress rows those of the NICs in its domain XML. Returns the MACs that another
    VM of the fleet already holds (registered to that VM, not this one; logged: two NICs on one segment
    with one MAC would fight)."""
    macs = {nic.mac for nic in nics_of(vm.domain_xml if xml is None else xml) if nic.mac}
    clashes = []
    with transaction.atomic():
        MACAddress.objects.filter(vm=vm).exclude(mac__in=macs).delete()
        free_macs_of_gone_vms()
        held = dict(MACAddress.objects.filter(mac__in=macs).values_list("mac", "vm_id"))
        for mac in sorted(macs):
            if mac not in held:
                try:
                    with transaction.atomic():
                        MACAddress.objects.create(mac=mac, vm=vm)
                except IntegrityError:
                    clashes.append(mac)
            elif held[mac] != vm.pk:
                clashes.append(mac)
    if clashes:
        log.warning("VM %s has MAC addresses another VM holds: %s", vm.uuid, ", ".join(clashes))
    return clashes


# --- changing -----------------------------------------------------------------------------------------
def _mac_of_vm(vm: VirtualMachine, mac: str) -> str:
    mac = normalize_mac(mac)
    if mac not in {nic.mac for nic in nics_of(vm.domain_xml)}:
        raise ValidationError({"mac": _("This VM has no network interface with MAC address %(mac)s.") % {"mac": mac}})
    return mac


def validate_add(
    vm: VirtualMachine, *, network: str = "", bridge: str = "", model: str = "virtio", mac: str = ""
) -> dict:
    """The job's params of a new NIC, or ValidationError with every problem (field -> messages)."""
    errors: dict[str, list[str]] = {}
    network, bridge, model = (network or "").strip(), (bridge or "").strip(), (model or "virtio").strip()
    host = vm.host
    if bool(network) == bool(bridge):
        errors.setdefault("network", []).append(_("Choose a network or a bridge for the interface (one of them)."))
    elif host is None:
        errors.setdefault("network", []).append(_("The VM has no host yet."))
    elif network:
        facts = next((n for n in stored_networks(host) if n.get("name") == network), None)
        if facts is None:
            errors.setdefault("network", []).append(
                _("Host %(host)s has no network named %(name)s.") % {"host": host.name, "name": network}
            )
        elif not facts.get("active"):
            errors.setdefault("network", []).append(
                _("Network %(name)s on %(host)s is not started; an admin can start it.")
                % {"host": host.name, "name": network}
            )
    elif bridge not in offered_bridges(vm):
        errors.setdefault("bridge", []).append(
            _("Host %(host)s has no bridge named %(name)s (as of its last check).")
            % {"host": host.name, "name": bridge}
        )
    if model not in MODELS:
        errors.setdefault("model", []).append(
            _("Choose one of these models: %(models)s.") % {"models": ", ".join(MODELS)}
        )
    if mac:
        try:
            mac = normalize_mac(mac)
        except ValidationError as exc:
            errors.setdefault("mac", []).extend(exc.message_dict["mac"])
        else:
            if MACAddress.objects.filter(mac=mac).exclude(vm__state__in=GONE_STATES).exists():
                errors.setdefault("mac", []).append(
                    _("MAC address %(mac)s is already in use in the fleet.") % {"mac": mac}
                )
    if errors:
        raise ValidationError(errors)
    return {"network": network, "bridge": bridge, "model": model, "mac": mac}


def add_interface(
    user, vm: VirtualMachine, *, network: str = "", bridge: str = "", model: str = "virtio", mac: str = ""
) -> Job:
    """Queue `vm.interface-add`; the MAC (given or generated in 52:54:00) is reserved with the job."""
    params = validate_add(vm, network=network, bridge=bridge, model=model, mac=mac)

    def prepare(locked: VirtualMachine) -> None:
        params["mac"] = reserve_mac(locked, params["mac"])

    return request_change(user, vm, VMChange.INTERFACE_ADD, params, prepare=prepare)


def remove_interface(user, vm: VirtualMachine, mac: str) -> Job:
    mac = _mac_of_vm(vm, mac)
    return request_change(user, vm, VMChange.INTERFACE_REMOVE, {"mac": mac})


def set_link(user, vm: VirtualMachine, mac: str, up: bool) -> Job:
    mac = _mac_of_vm(vm, mac)
    return request_change(user, vm, VMChange.INTERFACE_LINK, {"mac": mac, "up": bool(up)})
