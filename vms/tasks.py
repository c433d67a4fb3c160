"""Periodic VM housekeeping. Thin: the service does the work."""

from celery import shared_task

from vms.services.reaper import reap


@shared_task(name="vms.reap_orphans", acks_late=True)
def reap_orphans() -> list[str]:
    return [orphan.line() for orphan in reap()]
