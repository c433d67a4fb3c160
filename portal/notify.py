"""Telling a requester what happened to their request: live in the page, and by e-mail if configured."""

from __future__ import annotations

import logging
import os

from django.contrib.auth import get_user_model
from django.core.mail import get_connection, send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from live.broadcast import broadcast
from live.groups import user_group
from portal.conf import email_enabled
from portal.models import VMRequest

log = logging.getLogger(__name__)


def request_payload(req: VMRequest) -> dict:
    return {
        "type": "request.state",
        "request": req.pk,
        "state": req.state,
        "name": req.name,
        "requester": req.requester_id,
        "reason": req.reason,
        "vm": str(req.vm.uuid) if req.vm_id else None,
        "vm_state": req.vm.state if req.vm_id else None,
        "vm_url": reverse("vm-detail", args=[req.vm.uuid]) if req.vm_id else None,
        "url": reverse("portal:request-detail", args=[req.pk]),
    }


def request_changed(req: VMRequest) -> None:
    """Broadcast to the requester and the admins (whose inbox is live) once the change is committed.

    Not to the `fleet` group: operators listen there, and a request (its note, a rejection's reason) is
    for the requester and the admins only. Each admin's own group reaches every page they have open.
    """
    admins = get_user_model().objects.filter(is_staff=True, is_active=True).values_list("pk", flat=True)
    broadcast([user_group(req.requester_id), *(user_group(pk) for pk in admins)], request_payload(req))
    if email_enabled() and req.requester.email:
        transaction.on_commit(lambda: _send_email(req))


def _connection():
    host = os.environ.get("EMAIL_HOST")
    if not host:
        return get_connection()  # Django's EMAIL_* settings
    return get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host=host,
        port=int(os.environ.get("EMAIL_PORT", "25")),
        username=os.environ.get("EMAIL_HOST_USER", ""),
        password=os.environ.get("EMAIL_HOST_PASSWORD", ""),
        use_tls=os.environ.get("EMAIL_USE_TLS", "").lower() in ("1", "true", "yes"),
    )


def _send_email(req: VMRequest) -> None:
    with translation.override(getattr(req.requester, "language", None) or translation.get_language()):
        subject = _("Your VM request %(name)s: %(state)s") % {"name": req.name, "state": req.get_state_display()}
        lines = [subject]
        if req.reason:
            lines.append(_("Reason: %(reason)s") % {"reason": req.reason})
    try:
        send_mail(
            subject,
            "\n".join(lines),
            os.environ.get("DEFAULT_FROM_EMAIL") or None,
            [req.requester.email],
            connection=_connection(),
        )
    except Exception:  # a notification must never undo the decision
        log.exception("could not e-mail %s about request #%s", req.requester.email, req.pk)
