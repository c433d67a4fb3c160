"""Set or show a user's (or a group's) quota: manage.py quota alice --vms 3 --vcpus 4 --memory-mib 4096 --disk-gib 40"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from audit import log as audit_log
from portal import quotas


class Command(BaseCommand):
    help = "Set or show the quota of a user (or, with --group, of a group). Without limits: show it."

    def add_arguments(self, parser):
        parser.add_argument("name", help="username (or group name with --group)")
        parser.add_argument("--group", action="store_true", help="NAME is a group: the limits cover all members")
        parser.add_argument("--vms", type=int)
        parser.add_argument("--vcpus", type=int)
        parser.add_argument("--memory-mib", type=int)
        parser.add_argument("--disk-gib", type=int)
        parser.add_argument(
            "--clear",
            action="store_true",
            help="forget this quota (a user falls back to the default, a group has no limit)",
        )

    def handle(self, name, group, vms, vcpus, memory_mib, disk_gib, clear, **options):
        if group:
            target = Group.objects.filter(name=name).first()
            if target is None:
                raise CommandError(f"No group is called {name!r}.")
            owner = {"group": target}
        else:
            target = get_user_model().objects.filter(username=name).first()
            if target is None:
                raise CommandError(f"No user is called {name!r}.")
            owner = {"user": target}
        limits = {
            k: v
            for k, v in {
                "max_vms": vms,
                "max_vcpus": vcpus,
                "max_memory_mib": memory_mib,
                "max_disk_gib": disk_gib,
            }.items()
            if v is not None
        }
        if any(v < 0 for v in limits.values()):
            raise CommandError("Limits must be 0 or more.")
        if clear:
            from portal.models import Quota

            Quota.objects.filter(**owner).delete()
            audit_log.record(None, "quota.clear", target, via="manage.py quota")
        elif limits:
            row = quotas.set_quota(**owner, **limits)
            audit_log.record(None, "quota.set", row, via="manage.py quota", **limits)
        self._show(target, group)

    def _show(self, target, group: bool) -> None:
        if group:
            from portal.models import Quota

            row = Quota.objects.filter(group=target).first()
            limits = {
                f: getattr(row, f) if row else None for f in ("max_vms", "max_vcpus", "max_memory_mib", "max_disk_gib")
            }
            used = quotas.group_usage(target)
        else:
            limits = quotas.user_limits(target)
            used = quotas.user_usage(target)
        self.stdout.write(f"{'group' if group else 'user'} {target}:")
        for field, (attr, label) in quotas.DIMENSIONS.items():
            limit = limits[field]
            self.stdout.write(f"  {label}: {getattr(used, attr)} used of {'no limit' if limit is None else limit}")
