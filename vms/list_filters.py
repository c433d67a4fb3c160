"""The VM lists' filters and sort orders, from query parameters (`tag`, `state`, `sort`).

A value that is not one of ours is ignored (the list shows everything, sorted by name), never an
error and never pasted into a query: tags must look like tags, states are VMState values, sorts come
from SORTS.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from vms.choices import VMState
from vms.services.vm_update import TAG_RE

# sort parameter -> (label, order_by); "-<key>" reverses.
SORTS = {
    "name": (_("Name"), ("name", "id")),
    "state": (_("State"), ("state", "name", "id")),
    "host": (_("Host"), ("host__name", "name", "id")),
    "created": (_("Created"), ("created_at", "id")),
}


@dataclass(frozen=True)
class ListChoice:
    tag: str = ""
    state: str = ""
    sort: str = "name"


def choice_from(params) -> ListChoice:  # noqa: ANN001 (a QueryDict)
    tag = (params.get("tag") or "").strip()
    state = params.get("state") or ""
    sort = params.get("sort") or "name"
    return ListChoice(
        tag=tag if TAG_RE.match(tag) else "",
        state=state if state in VMState.values else "",
        sort=sort if sort.lstrip("-") in SORTS else "name",
    )


def apply(vms: QuerySet, choice: ListChoice) -> QuerySet:
    if choice.tag:
        vms = vms.filter(tags__name=choice.tag)
    if choice.state:
        vms = vms.filter(state=choice.state)
    order = SORTS[choice.sort.lstrip("-")][1]
    if choice.sort.startswith("-"):
        order = tuple(f"-{f}" for f in order)
    return vms.order_by(*order).distinct()
