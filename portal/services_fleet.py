"""When a host's capacity is worth an admin's attention, and the short fleet story the home page tells.

Rules, not queries: they read what portal.selectors.host_rows already counted.
"""

from __future__ import annotations

from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ui import formatting

# vCPUs are shared in time slices: most guests idle most of the time, so giving out more vCPUs than the
# host has cores is normal. Up to four per core is a common, conservative ratio for general-purpose
# guests; beyond it, guests start to wait for CPU and the page says so.
VCPU_OVERCOMMIT_OK = 4.0
# Memory and disk are not shared that way: a host past this share of either is close to refusing VMs.
WARN_PERCENT = 90
# How many hosts needing attention the home page names before it points to the fleet page.
HOME_PROBLEM_HOSTS = 5

LEVEL_OK, LEVEL_WARN, LEVEL_OVER = "ok", "warn", "over"


def capacity_level(key: str, used: float, total: float) -> str:
    """ "ok", "warn" or "over" for one meter; "ok" when the host reports no total (nothing to judge)."""
    if not total:
        return LEVEL_OK
    ratio = used / total
    if key == "vcpus":
        if ratio > VCPU_OVERCOMMIT_OK:
            return LEVEL_OVER
        return LEVEL_WARN if ratio > VCPU_OVERCOMMIT_OK * WARN_PERCENT / 100 else LEVEL_OK
    if ratio > 1:
        return LEVEL_OVER
    return LEVEL_WARN if ratio * 100 >= WARN_PERCENT else LEVEL_OK


def capacity_text(cap: dict) -> str:
    """ "12 vCPUs on 8 cores (1.5 per core)", "128 MiB of 8 GiB used (2 %)", or why there is no number."""
    key, used, total = cap["key"], cap["used"], cap["total"]
    if not total:
        # A host that reports no storage pool (or no facts yet) has nothing to divide by: say so, not "0 / 0".
        return gettext("no storage data") if key == "disk" else gettext("no data from the host")
    if key == "vcpus":
        return ngettext(
            "%(used)s vCPU on %(total)s cores (%(ratio)s per core)",
            "%(used)s vCPUs on %(total)s cores (%(ratio)s per core)",
            used,
        ) % {"used": used, "total": total, "ratio": number_format(round(used / total, 1), 1)}
    size = formatting.size_mib if key == "memory" else formatting.size_gib
    return gettext("%(used)s of %(total)s used (%(percent)s %%)") % {
        "used": size(used),
        "total": size(total),
        "percent": cap["percent"],
    }


def judge(overview: dict) -> dict:
    """Add to every capacity meter its level and, for vCPUs, the bar's fill against the sane ratio;
    add to every host its attention state: offline, disabled, over, warn or ok."""
    for row in overview["hosts"]:
        worst = LEVEL_OK
        for cap in row["capacity"]:
            cap["level"] = capacity_level(cap["key"], cap["used"], cap["total"])
            cap["known"] = bool(cap["total"])
            # The vCPU bar is full at the sane ratio, so 156 % of cores draws as a normal, partly filled bar.
            limit = cap["total"] * (VCPU_OVERCOMMIT_OK if cap["key"] == "vcpus" else 1)
            cap["fill"] = min(100, round(100 * cap["used"] / limit)) if limit else 0
            cap["text"] = capacity_text(cap)
            if cap["level"] == LEVEL_OVER or (cap["level"] == LEVEL_WARN and worst == LEVEL_OK):
                worst = cap["level"]
        if not row["online"]:
            row["attention"] = "offline"
        elif not row["enabled"]:
            row["attention"] = "disabled"
        else:
            row["attention"] = worst
    return overview


ATTENTION_ORDER = {"offline": 0, "over": 1, "warn": 2, "disabled": 3, "ok": 4}
ATTENTION_LABELS = {
    "offline": _("offline"),
    "over": _("over capacity"),
    "warn": _("nearly full"),
    "disabled": _("disabled"),
    "ok": _("fine"),
}


def home_summary(overview: dict) -> dict:
    """Counts of hosts by attention state and the few hosts that need a look first."""
    judge(overview)
    counts: dict[str, int] = {}
    for row in overview["hosts"]:
        counts[row["attention"]] = counts.get(row["attention"], 0) + 1
    problems = sorted(
        (row for row in overview["hosts"] if row["attention"] != "ok"),
        key=lambda row: (ATTENTION_ORDER[row["attention"]], row["host"].name),
    )
    return {
        "host_count": len(overview["hosts"]),
        "counts": [
            {"key": key, "label": ATTENTION_LABELS[key], "n": counts[key]}
            for key in sorted(counts, key=ATTENTION_ORDER.__getitem__)
        ],
        "problems": [
            {**row, "attention_label": ATTENTION_LABELS[row["attention"]]} for row in problems[:HOME_PROBLEM_HOSTS]
        ],
        "more_problems": max(0, len(problems) - HOME_PROBLEM_HOSTS),
    }
