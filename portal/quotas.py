"""Quotas: what a user (and each of their groups) may hold, what they hold, and the atomic check.

Usage counts every VM not deleted (a failed one too) plus requests still open (pending or approved
without a VM yet), so a flood of requests cannot overrun a quota before anyone approves. A failed VM
keeps its share until it is deleted because a retry of its provision brings it back without taking
quota again (vms.services.vms.check_provision_retry): were failed VMs free, a user could submit up to
the quota, let the provisions fail, submit again and retry the failed ones, without limit.

The check is atomic on PostgreSQL and SQLite alike: `lock_and_check` runs inside the transaction
that inserts the request, after locking the user's Quota row (SELECT ... FOR UPDATE; on SQLite the
project opens every transaction with BEGIN IMMEDIATE, which serializes writers anyway) and then the
quota rows of the user's groups in primary-key order (one order for everyone: no deadlocks).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.choices import HOLDING_QUOTA
from portal.conf import QUOTA_FIELDS, default_quota
from portal.models import Quota, VMRequest
from vms.choices import GONE_STATES
from vms.models import VirtualMachine

DIMENSIONS = {
    "max_vms": ("vms", gettext_lazy("VMs")),
    "max_vcpus": ("vcpus", gettext_lazy("vCPUs")),
    "max_memory_mib": ("memory_mib", gettext_lazy("Memory (MiB)")),
    "max_disk_gib": ("disk_gib", gettext_lazy("Disk (GiB)")),
}


@dataclass(frozen=True)
class Usage:
    vms: int = 0
    vcpus: int = 0
    memory_mib: int = 0
    disk_gib: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values(), strict=True)))


def need_for(vcpus: int, memory_mib: int, disk_gib: int) -> Usage:
    return Usage(1, vcpus, memory_mib, disk_gib)


def _totals(qs) -> Usage:
    t = qs.aggregate(
        n=Count("id"),
        vcpus=Sum("vcpus", default=0),
        memory=Sum("memory_mib", default=0),
        disk=Sum("disk_gib", default=0),
    )
    return Usage(t["n"], t["vcpus"], t["memory"], t["disk"])


def usage_of(user_ids) -> Usage:
    """Held by these users (a list of primary keys or a subquery of them); failed VMs count until deleted."""
    vms = VirtualMachine.objects.filter(owner_id__in=user_ids).exclude(state__in=GONE_STATES)
    reqs = VMRequest.objects.filter(requester_id__in=user_ids, state__in=HOLDING_QUOTA, vm__isnull=True)
    return _totals(vms) + _totals(reqs)


def user_usage(user) -> Usage:
    return usage_of([user.pk])


def group_usage(group) -> Usage:
    return usage_of(group.user_set.values("pk"))


def user_limits(user, row: Quota | None = None) -> dict[str, int]:
    """The user's own limits: their row where set, the default elsewhere."""
    if row is None:
        row = Quota.objects.filter(user=user).first()
    defaults = default_quota()
    return {
        f: (getattr(row, f) if row is not None and getattr(row, f) is not None else defaults[f]) for f in QUOTA_FIELDS
    }


def ensure_user_row(user) -> Quota:
    """The row that serializes this user's submissions; created outside the locking transaction."""
    row, _created = Quota.objects.get_or_create(user=user)
    return row


def _over(limits: dict, used: Usage, need: Usage) -> list[tuple[str, int, int]]:
    """[(field, limit, used)] for every limit the need would break (None: no limit)."""
    broken = []
    for field, (attr, _label) in DIMENSIONS.items():
        limit = limits.get(field)
        if limit is not None and getattr(used, attr) + getattr(need, attr) > limit:
            broken.append((field, limit, getattr(used, attr)))
    return broken


def _refusal(whose: str, broken: list[tuple[str, int, int]]) -> ValidationError:
    parts = [
        _("%(label)s: %(used)s of %(limit)s in use") % {"label": DIMENSIONS[f][1], "used": used, "limit": limit}
        for f, limit, used in broken
    ]
    return ValidationError(
        {
            "quota": _(
                "This request exceeds %(whose)s quota (%(parts)s). Pending requests count "
                "too; delete a VM or ask an admin for more."
            )
            % {"whose": whose, "parts": "; ".join(parts)}
        }
    )


def lock_and_check(user, need: Usage) -> None:
    """Raise ValidationError({"quota": ...}) when `need` does not fit. Call inside transaction.atomic()."""
    if user.is_staff:
        return
    row = Quota.objects.select_for_update().get(user=user)
    group_rows = list(
        Quota.objects.select_for_update().filter(group__in=user.groups.all()).order_by("pk").select_related("group")
    )
    broken = _over(user_limits(user, row), user_usage(user), need)
    if broken:
        raise _refusal(_("your"), broken)
    for group_row in group_rows:
        limits = {f: getattr(group_row, f) for f in QUOTA_FIELDS}
        broken = _over(limits, group_usage(group_row.group), need)
        if broken:
            raise _refusal(_("the group %(group)s's") % {"group": group_row.group.name}, broken)


def summary(user) -> dict:
    """What the request form shows: for each dimension the tightest limit, what is used, what is left."""
    used = user_usage(user)
    limits = user_limits(user)
    rows = []
    for field, (attr, label) in DIMENSIONS.items():
        limit, in_use = limits[field], getattr(used, attr)
        left = limit - in_use
        for group_row in Quota.objects.filter(group__in=user.groups.all()).select_related("group"):
            glimit = getattr(group_row, field)
            if glimit is not None:
                gused = getattr(group_usage(group_row.group), attr)
                if glimit - gused < left:
                    limit, in_use, left = glimit, gused, glimit - gused
        rows.append(
            {
                "field": field,
                "key": attr,
                "label": label,
                "limit": limit,
                "used": in_use,
                "left": max(left, 0),
                "percent": min(100, round(100 * in_use / limit)) if limit else 100,
            }
        )
    return {"unlimited": bool(user.is_staff), "rows": rows, "by_key": {r["key"]: r for r in rows}}


def set_quota(*, user=None, group=None, **limits) -> Quota:
    """Create or change a user's or a group's quota; only the given limits change."""
    if (user is None) == (group is None):
        raise ValueError("give exactly one of user or group")
    row, _created = Quota.objects.get_or_create(user=user, group=group)
    changed = [f for f in QUOTA_FIELDS if f in limits]
    for field in changed:
        setattr(row, field, limits[field])
    if changed:
        row.save(update_fields=[*changed, "updated_at"])
    return row
