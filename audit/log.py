"""The audit log: `record(actor, action, obj, result, **details)`; every app calls it, and it imports none.

Actions are dotted verbs ("request.submit", "vm.start", "quota.set"); `obj` is a model instance
(VM, host, template, request, quota, share), or None for actions on nothing in particular.
Recorded inside the caller's transaction: a change that rolls back leaves no entry behind.

A door that calls services on nobody's behalf (a management command) says so with `context`:
`with audit_log.context(via="manage.py hosts add"): add_host(...)` adds `via` to every entry recorded
inside, so the services record in one place and the log still tells the doors apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models import QuerySet

from audit.choices import AuditResult
from audit.models import AuditEntry

# Short, stable names for the objects people filter by.
OBJECT_TYPES = {
    "vms.virtualmachine": "vm",
    "vms.host": "host",
    "vms.vmtemplate": "template",
    "vms.image": "image",
    "vms.hostnetwork": "network",
    "portal.vmrequest": "request",
    "portal.quota": "quota",
    "portal.vmshare": "share",
    "vms.vmshare": "share",
    "portal.approvalpolicy": "policy",
    "jobs.job": "job",
    "auth.user": "user",
    "auth.group": "group",
    "accounts.apitoken": "token",
}

# Details every entry recorded inside `context(...)` gets (the caller's own details win).
_context: ContextVar[dict | None] = ContextVar("audit_context", default=None)


@contextmanager
def context(**details) -> Iterator[None]:
    """Add `details` (e.g. via="manage.py hosts add") to every entry recorded inside the block."""
    token = _context.set({**(_context.get() or {}), **details})
    try:
        yield
    finally:
        _context.reset(token)


def object_type_of(obj) -> str:
    if obj is None:
        return ""
    label = obj._meta.label_lower
    return OBJECT_TYPES.get(label, label)


def record(actor, action: str, obj=None, result: str = AuditResult.OK, **details) -> AuditEntry:
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEntry.objects.create(
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else "",
        action=action[:64],
        object_type=object_type_of(obj),
        object_id="" if obj is None else str(obj.pk)[:64],
        object_name="" if obj is None else str(getattr(obj, "name", None) or obj)[:200],
        result=result,
        details={**(_context.get() or {}), **details},
    )


def filter_entries(
    qs: QuerySet[AuditEntry],
    *,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    since=None,
    until=None,
    q: str = "",
) -> QuerySet[AuditEntry]:
    if actor:
        qs = qs.filter(actor_name__iexact=actor)
    if action:
        qs = qs.filter(action__istartswith=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if since:
        qs = qs.filter(at__date__gte=since)
    if until:
        qs = qs.filter(at__date__lte=until)
    if q:
        qs = qs.filter(object_name__icontains=q)
    return qs
