"""The host maintenance job (`host.maintenance`; vms/services/maintenance.py queues it).

Steps: plan (a child `vm.migrate` job for each VM that can move, through the same door as a move an
admin asks for, so placement, checks and audit are the same; the others are reported with the reason),
then move (wait for the children, the overall progress being the share of them finished).

The children are ordinary jobs on the queue: any free worker runs them, several at once. So that the
parent never waits for a worker that it itself occupies (a worker with one slot), it runs a child
itself when the child is still waiting in the queue; claiming a job is a compare-and-set, so a child
runs once whoever gets it first.
"""

from __future__ import annotations

import time

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from jobs.choices import FINISHED, JobState
from jobs.errors import InvalidTransition, JobFailed, JobNotAllowed, RetryRefused
from jobs.execution import execute
from jobs.models import Job
from jobs.registry import Runner, register
from jobs.services import cancel
from jobs.targets import parse_target
from vms.choices import VMState
from vms.models import Host
from vms.services.moves import move_vm

POLL_S = 0.5
MOVABLE = (VMState.RUNNING, VMState.STOPPED, VMState.CRASHED)


def _host_of(job) -> Host:  # noqa: ANN001
    host = Host.objects.filter(pk=parse_target(job.target)[1]).first()
    if host is None:
        raise JobFailed(_t("The host of this job no longer exists."))
    return host


def _why(exc: Exception) -> str:
    return "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


@register("host.maintenance")
class EmptyHost(Runner):
    label = _("Move every VM off the host")
    steps = [("plan", _("Choose where each VM goes")), ("move", _("Move the VMs"))]
    exclusive = True  # one at a time per host

    def check_retry(self, job, user) -> None:
        raise RetryRefused(_t("Put the host in maintenance again from its page: its VMs are looked at anew."))

    def run(self, ctx) -> None:
        host = _host_of(ctx.job)
        user = ctx.job.requested_by
        children = list(Job.objects.filter(kind="vm.migrate", params__parent=ctx.job.pk).order_by("pk"))
        not_moving: list[str] = list(ctx.params.get("not_moving", []))
        with ctx.step("plan"):
            if not host.maintenance:
                raise JobFailed(_t("%(host)s left maintenance meanwhile.") % {"host": host.name})
            if not children:  # a resumed job made them already
                children, not_moving = self._plan(ctx, host, user)
                Job.objects.filter(pk=ctx.job.pk).update(params={**ctx.params, "not_moving": not_moving})
        with ctx.step("move"):
            children = self._follow(ctx, children)
        moved = [c for c in children if c.state == JobState.SUCCEEDED]
        failed = [
            f"{c.params.get('vm_name', c.target)}: {c.error.get('message', c.state)}"
            for c in children
            if c.state != JobState.SUCCEEDED
        ]
        ctx.log(
            _t("%(moved)s of %(total)s VMs moved.") % {"moved": len(moved), "total": len(children) + len(not_moving)}
        )
        if failed or not_moving:
            raise JobFailed(
                _t("Some VMs are still on %(host)s, which stays out of placement: %(list)s.")
                % {"host": host.name, "list": "; ".join(not_moving + failed)}
            )

    @staticmethod
    def _plan(ctx, host: Host, user) -> tuple[list[Job], list[str]]:  # noqa: ANN001
        children, not_moving = [], []
        for vm in host.vms.exclude(state__in=[VMState.DELETED, VMState.DELETING]).select_related("host", "template"):
            if vm.state not in MOVABLE or not vm.managed or vm.run_once:
                reason = (
                    _t("not managed here")
                    if not vm.managed
                    else _t("a run-once VM")
                    if vm.run_once
                    else VMState(vm.state).label.lower()
                )
                not_moving.append(f"{vm.name} ({reason})")
                continue
            try:
                job = move_vm(user, vm, parent=ctx.job.pk)
            except (ValidationError, PermissionDenied) as exc:
                not_moving.append(f"{vm.name} ({_why(exc)})")
                continue
            Job.objects.filter(pk=job.pk).update(params={**job.params, "vm_name": vm.name})
            job.params["vm_name"] = vm.name
            children.append(job)
            ctx.log(
                _t("%(vm)s goes to %(host)s (job #%(job)s).")
                % {"vm": vm.name, "host": job.params["host"], "job": job.pk}
            )
        for line in not_moving:
            ctx.log(_t("Stays: %(vm)s.") % {"vm": line})
        return children, not_moving

    @staticmethod
    def _follow(ctx, children: list[Job]) -> list[Job]:  # noqa: ANN001
        """Until every child has finished; returns them as they ended."""
        ids = [c.pk for c in children]
        while True:
            children = list(Job.objects.filter(pk__in=ids).order_by("pk"))  # one query a look, not one per child
            waiting = [c for c in children if c.state not in FINISHED]
            ctx.progress((len(children) - len(waiting)) / len(children) if children else 1.0)
            if not waiting:
                return children
            ctx.check_cancelled()
            due = [
                c
                for c in waiting
                if c.state == JobState.QUEUED
                or (c.state == JobState.RETRYING and (c.retry_at or timezone.now()) <= timezone.now())
            ]
            if due:
                execute(due[0].pk, worker=f"{ctx.job.worker} (host.maintenance #{ctx.job.pk})")
            else:
                time.sleep(POLL_S)

    def on_failure(self, ctx) -> None:
        """Cancelled or failed: the moves not started yet are cancelled; a move under way finishes."""
        for child in Job.objects.filter(kind="vm.migrate", params__parent=ctx.job.pk).exclude(state__in=FINISHED):
            if child.state != JobState.RUNNING:
                try:
                    cancel(child, ctx.job.requested_by)
                except (InvalidTransition, JobNotAllowed):
                    pass  # it started or ended meanwhile: its own outcome stands
