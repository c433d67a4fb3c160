"""Find what we made on hosts that no live VM row owns; report it, remove it after a grace period.

Before that, fail the jobs whose worker is gone (`fail_lost_jobs`): the periodic housekeeping
(`vms.reap_orphans`, every REAPER_INTERVAL by Celery beat) runs both.

A grace period, because a provision in flight has volumes before its row says where it is, and a
person may retry a failed job. First sightings are kept in Redis, so any worker can run the reaper.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from jobs import execution
from jobs.execution import find_lost_jobs
from jobs.models import Job
from vms.choices import VMState
from vms.domainxml.vm import METADATA_NS
from vms.hypervisor import inventory
from vms.hypervisor.connection import connection
from vms.hypervisor.errors import HypervisorError
from vms.models import Host, VirtualMachine

log = logging.getLogger(__name__)
DEFAULT_GRACE = 600  # seconds
SEEN_KEY = "kvmdash:reaper:first-seen"
DEAD_STATES = [VMState.DELETED, VMState.FAILED]


@dataclass
class Orphan:
    host: str
    item: inventory.Tagged
    age: float
    removed: bool = False
    error: str = ""

    def line(self) -> str:
        what = "removed" if self.removed else (f"failed: {self.error}" if self.error else "kept (grace period)")
        return f"{self.host}: orphaned {self.item.kind} {self.item.name} seen {self.age:.0f} s ago, {what}"


def _live_uuids() -> set[str]:
    return {str(u) for u in VirtualMachine.objects.exclude(state__in=DEAD_STATES).values_list("uuid", flat=True)}


def fail_lost_jobs(dry_run: bool = False) -> list[Job]:
    """Jobs left running by a worker that is gone (and its message with it): failed, after their
    runner's cleanup, with a reason the person can act on (jobs.execution.fail_lost_jobs).

    A lost provision's on_failure removes what it made and marks the VM failed; a lost delete puts
    the VM back to unknown: no VM stays in a job-owned state because a worker vanished.
    """
    if not dry_run:
        return execution.fail_lost_jobs()  # it logs each one
    lost = list(find_lost_jobs())
    for job in lost:
        log.warning("job %s (%s) lost with its worker %r (dry run: left running)", job.pk, job.kind, job.worker)
    return lost


def reap(grace: float = DEFAULT_GRACE, dry_run: bool = False, now: float | None = None) -> list[Orphan]:
    # First the jobs whose worker is gone: their cleanup removes what they made, so none of it is an orphan.
    fail_lost_jobs(dry_run)
    client = redis.Redis.from_url(settings.REDIS_URL)
    now = time.time() if now is None else now
    orphans: list[Orphan] = []
    still_seen: set[str] = set()
    for host in Host.objects.filter(enabled=True, online=True):
        try:
            with connection(host.uri) as conn:
                items = inventory.tagged_resources(conn, METADATA_NS)
                live = _live_uuids()  # read after listing: a VM created meanwhile is not an orphan
                for item in items:
                    if item.vm_uuid in live:
                        continue
                    key = f"{host.pk}:{item.kind}:{item.name}"
                    still_seen.add(key)
                    client.hsetnx(SEEN_KEY, key, now)
                    orphan = Orphan(host.name, item, now - float(client.hget(SEEN_KEY, key)))
                    if orphan.age >= grace and not dry_run:
                        try:
                            inventory.remove(conn, item)
                            orphan.removed = True
                            client.hdel(SEEN_KEY, key)
                        except HypervisorError as exc:
                            orphan.error = str(exc)
                    orphans.append(orphan)
                    log.warning("%s", orphan.line())
        except HypervisorError as exc:
            log.warning("reaper skipped %s: %s", host.name, exc)
    # Forget sightings of things that went away by themselves.
    for key in client.hkeys(SEEN_KEY):
        if key.decode() not in still_seen:
            client.hdel(SEEN_KEY, key)
    return orphans
