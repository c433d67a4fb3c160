"""What the watcher sees on hosts, applied to the database and broadcast after commit.

Ownership rule (why the watcher does not simply copy libvirt's state):
- States a job owns -- pending, provisioning, deleting, deleted, failed -- are never written by the
  watcher. The job that set them finishes them (a provisioning job starts the domain before it marks the
  VM running; overwriting would make its own compare-and-set fail). The watcher records what it saw in
  Redis (`observed_state`) and leaves the row alone.
- `shutting_down` (a job asked the guest to stop) is kept while the domain still runs; any other
  observation (stopped, crashed, paused) replaces it. Jobs must therefore accept "already in the state I
  wanted" as success: the watcher may record the outcome before the job does.
- Every other state is the watcher's: it writes the observed state with a compare-and-set on the state
  it read, retrying on a lost race, so a concurrent job's write is never silently overwritten.
- A host that drops puts its VMs in `unknown` (not stopped: they usually keep running); the resync on
  reconnect writes the true state again.
- A domain that vanished from its host: a discovered VM (managed=False) becomes `deleted`; a managed VM
  becomes `unknown` and its observation says "missing" (something outside the dashboard removed it),
  except a run-once VM: its domain was transient, so vanishing is how it powers off; it becomes
  `deleted` and a job removes its disks (vms/services/run_once.py).
- A VM whose row names a host it is `moving_to` belongs to its move job (vms/runners/moves.py): what
  either host reports is recorded, never written, and the job writes the new host and state at the end.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from live.broadcast import broadcast
from live.redis import sync_redis
from vms.choices import VMState
from vms.groups import FLEET, host_group
from vms.hypervisor.events import ObservedDomain
from vms.models import Host, MACAddress, VirtualMachine
from vms.services import run_once
from vms.services.state import broadcast_state, set_state
from vms.watcher.store import (
    addresses_key,
    console_open_key,
    observed_key,
    scrollback_end_key,
    scrollback_key,
    stats_key,
)

log = logging.getLogger(__name__)

JOB_OWNED = frozenset({VMState.PENDING, VMState.PROVISIONING, VMState.DELETING, VMState.DELETED, VMState.FAILED})
# States that only say what the host reported: an offline host makes them unknown.
OBSERVED = frozenset({VMState.RUNNING, VMState.PAUSED, VMState.SHUTTING_DOWN, VMState.STOPPED, VMState.CRASHED})
MISSING = "missing"
CAS_ATTEMPTS = 3
# A few reads of the watcher (every 10 s): what it stops seeing (the guest stopped) goes away soon.
ADDRESSES_TTL_S = 60


def state_to_write(current: str, observed: str) -> str | None:
    """The state the watcher writes over `current` when the host reports `observed`; None: leave it."""
    if current in JOB_OWNED or current == observed:
        return None
    if current == VMState.SHUTTING_DOWN and observed == VMState.RUNNING:
        return None
    return observed


@dataclass(frozen=True)
class VMObservation:
    uuid: str
    managed: bool
    state: str  # the row's state after applying
    active: bool  # the domain runs (or is paused) on the host: its console is worth holding


@dataclass(frozen=True)
class WatchedHost:
    id: int
    name: str
    uri: str


def watchable_hosts() -> list[WatchedHost]:
    return [WatchedHost(h.id, h.name, h.uri) for h in Host.objects.filter(enabled=True).order_by("id")]


# --- broadcasting (vm.state is built and sent by vms.services.state) ---------------------------
def _host_state_message(host_id: int, online: bool, error: str = "") -> None:
    broadcast([host_group(host_id), FLEET], {"type": "host.state", "host": host_id, "online": online, "error": error})


# --- VM state -----------------------------------------------------------------------------------
def _record(vm_uuid: str, host_id: int, state: str) -> None:
    """What the host said, whatever the row says: for job-owned states and for diagnosis."""
    try:
        sync_redis().set(
            observed_key(vm_uuid),
            json.dumps({"state": state, "host": host_id, "at": timezone.now().isoformat()}),
            ex=7 * 24 * 3600,
        )
    except Exception:  # a diagnostic aid: never fail the database work for it
        log.exception("could not record the observed state of %s", vm_uuid)


def _compare_and_set(vm: VirtualMachine, wanted_for: callable, **extra) -> str:
    """Write `wanted_for(current)` unless None; re-read and retry when someone else changed the row.

    The write (compare-and-set on the state read, then the `vm.state` broadcast) is
    vms.services.state.set_state, the one writer of VM state.
    """
    for _attempt in range(CAS_ATTEMPTS):
        new = wanted_for(vm.state)
        if new is None:
            return vm.state
        if set_state(vm, new, expected=[vm.state], **extra):
            return new
        vm.refresh_from_db(fields=["state", "host", "owner", "managed", "moving_to"])
    log.warning("VM %s kept changing; left its state at %s", vm.uuid, vm.state)
    return vm.state


def _discover(host_id: int, domain: ObservedDomain) -> VirtualMachine | None:
    try:
        with transaction.atomic():
            vm = VirtualMachine.objects.create(
                uuid=domain.uuid,
                name=domain.name[:64],
                host_id=host_id,
                owner=None,
                managed=False,
                state=domain.state,
                vcpus=domain.vcpus,
                memory_mib=domain.memory_mib,
            )
    except IntegrityError:  # another VM row already uses that name on this host
        log.warning("domain %s (%s) on host %s not recorded: its name is taken", domain.name, domain.uuid, host_id)
        return None
    broadcast_state(vm)
    return vm


def _apply_to_row(vm: VirtualMachine, host_id: int, domain: ObservedDomain) -> VMObservation:
    if vm.moving_to_id is not None:
        # A move runs: the domain is on both hosts for a moment, paused or stopped on one; the job
        # writes the row when it knows where the VM is. The console follows the domain that runs.
        return VMObservation(str(vm.uuid), vm.managed, vm.state, domain.active)
    extra = {}
    if vm.host_id != host_id:
        # The domain runs here while the row names another host (migrated, or placed by hand):
        # follow it. A mere definition elsewhere (a copy, not running) does not move the VM.
        if not domain.active or vm.state in JOB_OWNED:
            return VMObservation(str(vm.uuid), vm.managed, vm.state, False)
        extra["host_id"] = host_id
        state = _compare_and_set(vm, lambda current: domain.state if current not in JOB_OWNED else None, **extra)
    else:
        state = _compare_and_set(vm, lambda current: state_to_write(current, domain.state))
    return VMObservation(str(vm.uuid), vm.managed, state, domain.active)


def _vanished(vm: VirtualMachine) -> VMObservation:
    _record(str(vm.uuid), vm.host_id, MISSING)
    if vm.moving_to_id is not None:  # gone from the old host is how a move ends
        return VMObservation(str(vm.uuid), vm.managed, vm.state, False)
    if vm.run_once and vm.managed:
        # Created transient: gone is how it powers off. Deleted, and a job removes its disks.
        run_once.domain_gone(vm)
        vm.refresh_from_db(fields=["state"])
        return VMObservation(str(vm.uuid), vm.managed, vm.state, False)
    target = VMState.UNKNOWN if vm.managed else VMState.DELETED
    state = _compare_and_set(vm, lambda current: None if current in JOB_OWNED or current == target else target)
    return VMObservation(str(vm.uuid), vm.managed, state, False)


def apply_observation(host_id: int, vm_uuid: str, domain: ObservedDomain | None) -> VMObservation | None:
    """One domain as the host reports it now (None: the host no longer has it)."""
    _record(vm_uuid, host_id, domain.state if domain else MISSING)
    vm = VirtualMachine.objects.filter(uuid=vm_uuid).first()
    if vm is None:
        if domain is None:
            return None
        vm = _discover(host_id, domain)
        return VMObservation(domain.uuid, False, domain.state, domain.active) if vm else None
    if domain is None:
        if vm.host_id != host_id:
            return VMObservation(str(vm.uuid), vm.managed, vm.state, False)
        return _vanished(vm)
    return _apply_to_row(vm, host_id, domain)


def resync_host(host_id: int, domains: list[ObservedDomain]) -> list[VMObservation]:
    """Make the database agree with the host's full domain list (after every (re)connect)."""
    seen = {d.uuid: d for d in domains}
    rows = {str(vm.uuid): vm for vm in VirtualMachine.objects.filter(uuid__in=list(seen))}
    observations = []
    for uuid, domain in seen.items():
        _record(uuid, host_id, domain.state)
        vm = rows.get(uuid)
        if vm is None:
            if _discover(host_id, domain):
                observations.append(VMObservation(uuid, False, domain.state, domain.active))
        else:
            observations.append(_apply_to_row(vm, host_id, domain))
    gone = VirtualMachine.objects.filter(host_id=host_id).exclude(state__in=JOB_OWNED).exclude(uuid__in=list(seen))
    for vm in gone:
        observations.append(_vanished(vm))
    return observations


# --- hosts --------------------------------------------------------------------------------------
def mark_host_online(host_id: int, facts: dict) -> None:
    # Merged, not replaced: other code (the admin's "Test connection") stores its own keys there too.
    with transaction.atomic():
        host = Host.objects.select_for_update().filter(pk=host_id).first()
        if host is None:
            return
        capabilities = {**(host.capabilities or {}), **facts}
        Host.objects.filter(pk=host_id).update(
            online=True, capabilities=capabilities, last_checked=timezone.now(), last_error=""
        )
    _host_state_message(host_id, True)


def mark_host_offline(host_id: int, error: str) -> None:
    """The host stopped answering: it is offline and nothing is known of its VMs until it returns."""
    was_online = Host.objects.filter(pk=host_id, online=True).exists()
    Host.objects.filter(pk=host_id).update(online=False, last_checked=timezone.now(), last_error=error[:2000])
    for vm in VirtualMachine.objects.filter(host_id=host_id, state__in=OBSERVED):
        _compare_and_set(vm, lambda current: VMState.UNKNOWN if current in OBSERVED else None)
    if was_online:
        _host_state_message(host_id, False, error)


def touch_host(host_id: int) -> None:
    """The watcher still hears from the host: pages can tell fresh from stale."""
    Host.objects.filter(pk=host_id).update(last_checked=timezone.now())


# --- guest addresses ----------------------------------------------------------------------------
def record_addresses(host_id: int, guests: list) -> list[tuple[str, dict]]:
    """What the host says its running guests' addresses are (vms.hypervisor.addresses.GuestAddresses),
    for the domains the dashboard knows; a guest with none yet gets nothing recorded.

    Returns the `vm.addresses` messages (docs/live.md) of the guests whose addresses changed since the
    last read, for the caller to send to each VM's group: the Network tab updates without a reload.
    Also registers the MACs of VMs seen running for the first time (vms.services.interfaces).
    """
    known = {
        str(u): pk
        for u, pk in VirtualMachine.objects.filter(uuid__in=[g.uuid for g in guests]).values_list("uuid", "pk")
    }
    _register_macs(guests, known)
    redis = sync_redis()
    found_now = [(g, g.all()) for g in guests if g.uuid in known]
    found_now = [(g, found) for g, found in found_now if found]
    try:
        before = redis.mget([addresses_key(g.uuid) for g, _found in found_now]) if found_now else []
    except Exception:
        log.exception("guest addresses on host %s not read back", host_id)
        before = [None] * len(found_now)
    pipe = redis.pipeline(transaction=False)
    now = timezone.now().isoformat()
    messages = []
    for (guest, found), old in zip(found_now, before, strict=True):
        by_mac = {mac: list(guest.addresses.get(mac, [])) for mac in guest.macs}
        record = {"addresses": found, "by_mac": by_mac, "source": guest.source, "host": host_id, "at": now}
        pipe.set(addresses_key(guest.uuid), json.dumps(record), ex=ADDRESSES_TTL_S)
        if _by_mac(old) != by_mac:
            messages.append(
                (guest.uuid, {"type": "vm.addresses", "vm": guest.uuid, "host": host_id, "addresses": by_mac})
            )
    try:
        pipe.execute()
    except Exception:  # a convenience for the VM page: never stop watching for it
        log.exception("guest addresses on host %s not recorded", host_id)
        return []
    return messages


def _by_mac(raw: bytes | str | None) -> dict | None:
    try:
        return json.loads(raw).get("by_mac") if raw else None
    except ValueError:
        return None


def _register_macs(guests: list, known: dict[str, int]) -> None:
    """The MACs of known VMs that the registry lacks (a VM made before it, or discovered): registered
    to their VM, so no new NIC anywhere gets them. A clash is only logged (see sync_macs)."""
    macs = {mac: known[g.uuid] for g in guests if g.uuid in known for mac in g.macs}
    if not macs:
        return
    held = set(MACAddress.objects.filter(mac__in=list(macs)).values_list("mac", flat=True))
    for mac, vm_pk in macs.items():
        if mac not in held:
            try:
                with transaction.atomic():
                    MACAddress.objects.create(mac=mac, vm_id=vm_pk)
            except IntegrityError:
                pass  # registered meanwhile


# --- readers ------------------------------------------------------------------------------------
def recent_stats(vm_uuid: object) -> list[dict]:
    """The VM's recent stats points (oldest first, ~5 s apart, up to 60): for sparklines."""
    raw = sync_redis().lrange(stats_key(vm_uuid), 0, -1)
    return [json.loads(item) for item in reversed(raw)]


def observed_state(vm_uuid: object) -> dict | None:
    """What the host last reported for the VM ({"state", "host", "at"}), whatever the row says."""
    raw = sync_redis().get(observed_key(vm_uuid))
    return json.loads(raw) if raw else None


def console_scrollback(vm_uuid: object) -> tuple[bytes, int, bool]:
    """The last 64 KiB of the VM's serial console, the count of bytes ever written, and whether a
    watcher holds the console stream right now."""
    with sync_redis().pipeline(transaction=True) as pipe:
        pipe.get(scrollback_key(vm_uuid)).get(scrollback_end_key(vm_uuid)).exists(console_open_key(vm_uuid))
        data, end, is_open = pipe.execute()
    return data or b"", int(end or 0), bool(is_open)


def guest_addresses(vm_uuid: object) -> dict | None:
    """The guest's addresses as its host last told them ({"addresses", "source", "host", "at"}), if recent."""
    raw = sync_redis().get(addresses_key(vm_uuid))
    return json.loads(raw) if raw else None
