"""What portal pages show, shaped for templates: links for audit entries, quota use beside requests.

Reads only; the rules stay in portal.services and portal.quotas.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import reverse
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from audit.presentation import detail_text, sentence
from jobs.selectors import visible_jobs
from portal import quotas
from portal.models import VMRequest
from ui import formatting
from vms.choices import ShareLevel, VMState
from vms.models import Host, VirtualMachine, VMTemplate


def audit_rows(entries: Iterable[AuditEntry], user) -> list[AuditEntry]:
    """Each entry gets `.sentence` and `.detail_text`; objects link only to pages the viewer may open.

    One query per kind of object on the page, whatever its length.
    """
    entries = list(entries)
    ids: dict[str, set[str]] = {"vm": set(), "job": set(), "request": set()}
    for entry in entries:
        if entry.object_type in ids and entry.object_id:
            ids[entry.object_type].add(entry.object_id)
        details = entry.details or {}
        for job_id in [details.get("job"), *(details.get("jobs") or [])]:
            if job_id:
                ids["job"].add(str(job_id))
    vm_urls = {
        str(pk): reverse("vm-detail", args=[uuid])
        # A deleted VM has no page left: its name stays, without a link.
        for pk, uuid in VirtualMachine.objects.filter(pk__in=_ints(ids["vm"]))
        .exclude(state=VMState.DELETED)
        .values_list("pk", "uuid")
    }
    job_ids = {str(pk) for pk in visible_jobs(user).filter(pk__in=_ints(ids["job"])).values_list("pk", flat=True)}
    requests = VMRequest.objects.filter(pk__in=_ints(ids["request"]))
    if not user.is_staff:
        requests = requests.filter(requester=user)
    request_ids = {str(pk) for pk in requests.values_list("pk", flat=True)}

    def link(object_type: str, object_id: str) -> str:
        if object_type == "vm":
            return vm_urls.get(object_id, "")
        if object_type == "job" and object_id in job_ids:
            return reverse("job-detail", args=[object_id])
        if object_type == "request" and object_id in request_ids:
            return reverse("portal:request-detail", args=[object_id])
        if user.is_staff and object_type == "host" and object_id.isdigit():
            return reverse("portal:fleet-host", args=[object_id])
        if user.is_staff and object_type == "template" and object_id.isdigit():
            return reverse("manage-template-edit", args=[object_id])
        return ""

    words = {"level": dict(ShareLevel.choices), "fields": _field_names(Host, VMTemplate)}
    for entry in entries:
        entry.sentence = sentence(entry, link)
        entry.detail_text = detail_text(entry, words)
    return entries


def _field_names(*models) -> dict[str, str]:
    """Field name -> its label, for the "changed:" detail of host and template updates."""
    return {
        field.name: str(field.verbose_name)
        for model in models
        for field in model._meta.get_fields()
        if hasattr(field, "verbose_name")
    }


def _ints(values: Iterable[str]) -> list[int]:
    return [int(v) for v in values if str(v).isdigit()]


def quota_use(user, cache: dict | None = None) -> str:
    """ "uses 3 of 5 VMs, 6 of 16 vCPUs, 4 GiB of 8 GiB memory, 20 GiB of 100 GiB disk" (waiting requests count)."""
    if cache is not None and user.pk in cache:
        return cache[user.pk]
    rows = quotas.summary(user)["by_key"]

    def part(key: str, fmt) -> str:
        row = rows[key]
        return _("%(used)s of %(limit)s") % {"used": fmt(row["used"]), "limit": fmt(row["limit"])}

    text = _("uses %(vms)s VMs, %(vcpus)s vCPUs, %(memory)s memory, %(disk)s disk") % {
        "vms": part("vms", str),
        "vcpus": part("vcpus", str),
        "memory": part("memory_mib", formatting.size_mib),
        "disk": part("disk_gib", formatting.size_gib),
    }
    if cache is not None:
        cache[user.pk] = text
    return text
