"""The request flow: submit (quota checked atomically), approve (policy or admin), reject, cancel.

Request states change only here, each with a conditional UPDATE on the state we read
(REQUEST_TRANSITIONS), and every change is audited and broadcast to the requester after commit.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.throttle import Window
from audit import log as audit_log
from audit.choices import AuditResult
from portal import quotas
from portal.choices import OPEN_STATES, REQUEST_TRANSITIONS, ApprovalMode, RequestState
from portal.conf import default_approval
from portal.models import ApprovalPolicy, VMRequest
from portal.notify import request_changed
from vms.models import Host, VMTemplate
from vms.services.vms import VMOrder, create_vm, validate_request

MAX_NOTE = 2000
MAX_KEYS = 20


class RequestConflict(ValidationError):
    """The request is no longer in a state this change may start from."""


class SubmissionThrottled(ValidationError):
    """Too many refused submissions in a minute: refused before anything is checked, and nothing is written."""

    def __init__(self, seconds: int):
        self.seconds = max(1, seconds)
        message = ngettext(
            "Too many refused requests in a minute; try again in %(n)d second.",
            "Too many refused requests in a minute; try again in %(n)d seconds.",
            self.seconds,
        ) % {"n": self.seconds}
        super().__init__(message, code="throttled")


def _refusals() -> Window:
    """Refused submissions (each one an audit entry) per user and minute: a loop cannot grow the log."""
    return Window("portal-refused-submissions", settings.PORTAL_REFUSED_SUBMISSIONS_PER_MINUTE, 60)


def approval_mode(user, template: VMTemplate) -> str:
    """A rule for one of the user's groups wins (auto if any says auto); then the template's; then the default."""
    if user.is_staff:
        return ApprovalMode.AUTO
    policies = list(ApprovalPolicy.objects.filter(template=template))
    group_ids = set(user.groups.values_list("pk", flat=True))
    group_rules = [p.mode for p in policies if p.group_id in group_ids]
    if group_rules:
        return ApprovalMode.AUTO if ApprovalMode.AUTO in group_rules else ApprovalMode.MANUAL
    template_rule = next((p.mode for p in policies if p.group_id is None), None)
    return template_rule or default_approval()


def set_policy(template: VMTemplate, mode: str, group=None) -> ApprovalPolicy:
    if mode not in ApprovalMode.values:
        raise ValidationError({"mode": _("Unknown approval mode.")})
    policy, _created = ApprovalPolicy.objects.update_or_create(template=template, group=group, defaults={"mode": mode})
    return policy


def parse_ssh_keys(raw: str | Iterable[str]) -> list[str]:
    """One key per line (text) or a list; blank lines and surrounding spaces dropped."""
    lines = raw.splitlines() if isinstance(raw, str) else [str(k) for k in raw]
    return [line.strip() for line in lines if line.strip()]


def _transition(req: VMRequest, new: str, **fields) -> None:
    old = req.state
    if new not in REQUEST_TRANSITIONS.get(old, set()):
        raise RequestConflict(
            _("This request is %(state)s; it cannot change now.") % {"state": RequestState(old).label.lower()}
        )
    now = timezone.now()
    if not VMRequest.objects.filter(pk=req.pk, state=old).update(state=new, updated_at=now, **fields):
        raise RequestConflict(_("Someone else changed this request first; reload to see what happened."))
    req.state, req.updated_at = new, now
    for name, value in fields.items():
        setattr(req, name, value)


def _spec(req: VMRequest, host: Host | None) -> VMOrder:
    return VMOrder(
        template=req.template,
        name=req.name,
        vcpus=req.vcpus,
        memory_mib=req.memory_mib,
        disk_gib=req.disk_gib,
        ssh_keys=tuple(req.ssh_keys),
        host=host or req.host,
        run_once=req.run_once,
    )


def _provision(req: VMRequest, actor, host: Host | None, *, auto: bool) -> None:
    """pending -> approved -> provisioned (VM created, its job queued after commit); raises on refusal."""
    _transition(req, RequestState.APPROVED, decided_by=actor, decided_at=timezone.now(), auto_approved=auto)
    vm, job = create_vm(req.requester, _spec(req, host))
    _transition(req, RequestState.PROVISIONED, vm=vm)
    audit_log.record(
        actor or req.requester, "vm.create", vm, request=req.pk, job=job.pk, host=vm.host.name, auto_approved=auto
    )


def submit_request(
    user,
    template: VMTemplate,
    name: str,
    vcpus: int,
    memory_mib: int,
    disk_gib: int,
    ssh_keys: str | Iterable[str] = (),
    note: str = "",
    host: Host | None = None,
    run_once: bool = False,
) -> VMRequest:
    """Record a request if it is valid and fits the quota; approve it at once when the policy says so.

    Raises ValidationError (field -> message) when refused; nothing is stored then.
    """
    if user is None or not user.is_authenticated:
        raise PermissionDenied(_("Log in to request a VM."))
    wait = _refusals().full(str(user.pk))
    if wait:
        raise SubmissionThrottled(wait)
    if host is not None and not user.is_staff:
        raise ValidationError({"host": _("Only an admin may choose the host.")})
    keys = parse_ssh_keys(ssh_keys)
    note = (note or "").strip()
    errors: dict[str, str] = {}
    if len(keys) > MAX_KEYS:
        errors["ssh_keys"] = _("At most %(n)s SSH keys.") % {"n": MAX_KEYS}
    if len(note) > MAX_NOTE:
        errors["note"] = _("Keep the note under %(n)s characters.") % {"n": MAX_NOTE}
    spec = VMOrder(
        template=template,
        name=name,
        vcpus=vcpus,
        memory_mib=memory_mib,
        disk_gib=disk_gib,
        ssh_keys=tuple(keys),
        host=host,
        run_once=bool(run_once),
    )
    try:
        validate_request(spec)
    except ValidationError as exc:
        errors = {**exc.message_dict, **errors}
        errors = {k: v[0] if isinstance(v, list) else v for k, v in errors.items()}
    if errors:
        raise ValidationError(errors)
    mode = approval_mode(user, template)
    quotas.ensure_user_row(user)
    try:
        with transaction.atomic():
            quotas.lock_and_check(user, quotas.need_for(vcpus, memory_mib, disk_gib))
            # Under the lock: two of this user's requests cannot both take one name. Only this user's:
            # the answer must not tell anyone which names other people asked for. (VM names stay unique:
            # validate_request refuses a VM's name, and approving a second request of a name fails.)
            if VMRequest.objects.filter(requester=user, name=name, state__in=OPEN_STATES).exists():
                raise ValidationError(
                    {
                        "name": _("Your request for a VM named '%(name)s' is already waiting; choose another name.")
                        % {"name": name}
                    }
                )
            req = VMRequest.objects.create(
                requester=user,
                template=template,
                name=name,
                vcpus=vcpus,
                memory_mib=memory_mib,
                disk_gib=disk_gib,
                ssh_keys=keys,
                note=note,
                host=host,
                run_once=bool(run_once),
            )
            audit_log.record(
                user,
                "request.submit",
                req,
                template=template.name,
                vcpus=vcpus,
                memory_mib=memory_mib,
                disk_gib=disk_gib,
                approval=mode,
                **({"run_once": True} if run_once else {}),
            )
            if mode == ApprovalMode.AUTO:
                _auto_approve(req, host)
            request_changed(req)
    except ValidationError as exc:
        if "quota" in getattr(exc, "message_dict", {}):
            limits = _refusals()
            if limits.hit(str(user.pk)) > limits.limit:
                raise SubmissionThrottled(limits.full(str(user.pk))) from None
            audit_log.record(
                user, "request.submit", template, AuditResult.REFUSED, name=name, reason=exc.message_dict["quota"][0]
            )
        raise
    return req


def _auto_approve(req: VMRequest, host: Host | None) -> None:
    """Within quota and policy: create the VM now; if no host can take it, the request fails with why."""
    try:
        with transaction.atomic():
            _provision(req, None, host, auto=True)
    except ValidationError as exc:
        req.state = RequestState.PENDING  # the savepoint rolled the approval back
        reason = "; ".join(exc.messages)
        _transition(req, RequestState.FAILED, reason=reason, decided_at=timezone.now(), auto_approved=True)
        audit_log.record(req.requester, "request.approve", req, AuditResult.FAILED, reason=reason, auto=True)
    else:
        audit_log.record(None, "request.approve", req, auto=True, vm=str(req.vm.uuid))


def approve(actor, req: VMRequest, host: Host | None = None) -> VMRequest:
    """An admin approves: the VM is created (on `host` if given) and linked; refused with a reason otherwise."""
    if not actor.is_staff:
        raise PermissionDenied(_("Only an admin may approve requests."))
    with transaction.atomic():
        req = VMRequest.objects.select_for_update().select_related("template", "requester").get(pk=req.pk)
        if req.state != RequestState.PENDING:
            raise RequestConflict(
                _("This request is %(state)s; only waiting requests can be approved.")
                % {"state": req.get_state_display().lower()}
            )
        _provision(req, actor, host, auto=False)
        audit_log.record(actor, "request.approve", req, vm=str(req.vm.uuid), host=req.vm.host.name)
        request_changed(req)
    return req


def reject(actor, req: VMRequest, reason: str) -> VMRequest:
    if not actor.is_staff:
        raise PermissionDenied(_("Only an admin may reject requests."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why, so the requester knows what to change.")})
    with transaction.atomic():
        req = VMRequest.objects.select_for_update().get(pk=req.pk)
        _transition(req, RequestState.REJECTED, decided_by=actor, decided_at=timezone.now(), reason=reason[:2000])
        audit_log.record(actor, "request.reject", req, reason=reason)
        request_changed(req)
    return req


def cancel(actor, req: VMRequest) -> VMRequest:
    if not (actor.is_staff or req.requester_id == actor.pk):
        raise PermissionDenied(_("You may not cancel this request."))
    with transaction.atomic():
        req = VMRequest.objects.select_for_update().get(pk=req.pk)
        _transition(req, RequestState.CANCELLED, decided_at=timezone.now())
        audit_log.record(actor, "request.cancel", req)
        request_changed(req)
    return req


def approve_many(actor, reqs, host: Host | None = None) -> tuple[list[VMRequest], list[tuple[VMRequest, str]]]:
    """Approve each request on its own (one transaction each): one that cannot be placed or was decided
    meanwhile is refused with its reason and does not hold back the others."""
    approved, refused = [], []
    for req in reqs:
        try:
            approved.append(approve(actor, req, host=host))
        except (ValidationError, PermissionDenied) as exc:
            refused.append((req, " ".join(getattr(exc, "messages", None) or [str(exc)])))
    return approved, refused


def request_problems(template: VMTemplate, **given) -> dict[str, str]:
    """What the template's rules say about the fields that could be read, when others could not.

    The form stops at its first layer of errors (a missing size); without this the name's or another
    size's problem would only show after the next try. Only the given fields are judged; the missing
    ones stand in with the template's defaults.
    """
    spec = VMOrder(
        template=template,
        name=given.get("name") or "",
        vcpus=given.get("vcpus") or template.default_vcpus,
        memory_mib=given.get("memory_mib") or template.default_memory_mib,
        disk_gib=given.get("disk_gib") or template.default_disk_gib,
        ssh_keys=tuple(parse_ssh_keys(given.get("ssh_keys") or "")),
    )
    try:
        validate_request(spec)
    except ValidationError as exc:
        return {field: messages[0] for field, messages in exc.message_dict.items() if field in given}
    return {}
