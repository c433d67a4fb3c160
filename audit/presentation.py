"""Audit entries as sentences people read: "ux-user rebooted ux-demo-1 (job #59)".

The log stores stable keys ("vm.reboot", {"job": 59}); this module turns them into words. It imports
no app: the page that shows entries passes `link(object_type, object_id) -> url or ""`, because only
the apps above know where an object's page is and who may open it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from audit.models import AuditEntry

Link = Callable[[str, str], str]

# What each action did, with the actor and the object as placeholders (word order differs by language).
SENTENCES = {
    "vm.create": gettext_lazy("%(actor)s created %(object)s"),
    "vm.provision": gettext_lazy("%(actor)s created %(object)s"),
    "vm.start": gettext_lazy("%(actor)s started %(object)s"),
    "vm.shutdown": gettext_lazy("%(actor)s shut down %(object)s"),
    "vm.reboot": gettext_lazy("%(actor)s rebooted %(object)s"),
    "vm.force-off": gettext_lazy("%(actor)s forced off %(object)s"),
    "vm.suspend": gettext_lazy("%(actor)s suspended %(object)s"),
    "vm.resume": gettext_lazy("%(actor)s resumed %(object)s"),
    "vm.delete": gettext_lazy("%(actor)s deleted %(object)s"),
    # A run-once VM powered off (the actor: who forced or shut it off; "the system" when the guest did).
    "vm.run-once-gone": gettext_lazy("%(object)s ran once and powered off (seen by %(actor)s): deleted, its disks go"),
    "vm.adopt": gettext_lazy("%(actor)s adopted %(object)s"),
    "vm.forget": gettext_lazy("%(actor)s forgot %(object)s"),
    "vm.share": gettext_lazy("%(actor)s shared %(object)s"),
    "vm.unshare": gettext_lazy("%(actor)s stopped sharing %(object)s"),
    "job.retry": gettext_lazy("%(actor)s retried a job on %(object)s"),
    "request.submit": gettext_lazy("%(actor)s requested %(object)s"),
    "request.approve": gettext_lazy("%(actor)s approved the request %(object)s"),
    "request.reject": gettext_lazy("%(actor)s rejected the request %(object)s"),
    "request.cancel": gettext_lazy("%(actor)s cancelled the request %(object)s"),
    "host.add": gettext_lazy("%(actor)s added the host %(object)s"),
    "host.update": gettext_lazy("%(actor)s changed the host %(object)s"),
    "host.delete": gettext_lazy("%(actor)s removed the host %(object)s"),
    "host.trust_key": gettext_lazy("%(actor)s confirmed the SSH host key of %(object)s"),
    "host.key_changed": gettext_lazy("The SSH host key of %(object)s changed (seen by %(actor)s); it was refused"),
    "template.create": gettext_lazy("%(actor)s created the template %(object)s"),
    "template.update": gettext_lazy("%(actor)s changed the template %(object)s"),
    "template.delete": gettext_lazy("%(actor)s deleted the template %(object)s"),
    "image.upload": gettext_lazy("%(actor)s uploaded the image %(object)s"),
    "image.copy": gettext_lazy("%(actor)s copied the image %(object)s to hosts"),
    "image.delete": gettext_lazy("%(actor)s deleted the image %(object)s"),
    "pool.define": gettext_lazy("%(actor)s defined a storage pool on the host %(object)s"),
    "volume.delete": gettext_lazy("%(actor)s deleted a volume on the host %(object)s"),
    "network.define": gettext_lazy("%(actor)s defined the network %(object)s"),
    "network.start": gettext_lazy("%(actor)s started the network %(object)s"),
    "network.stop": gettext_lazy("%(actor)s stopped the network %(object)s"),
    "network.autostart": gettext_lazy("%(actor)s changed autostart of the network %(object)s"),
    "network.delete": gettext_lazy("%(actor)s deleted the network %(object)s"),
    "quota.set": gettext_lazy("%(actor)s set the quota %(object)s"),
    "quota.clear": gettext_lazy("%(actor)s cleared the quota %(object)s"),
    "token.create": gettext_lazy("%(actor)s created the API token %(object)s"),
    "token.revoke": gettext_lazy("%(actor)s revoked the API token %(object)s"),
    "login.failed": gettext_lazy("%(actor)s failed to log in"),
    "login.throttled": gettext_lazy("Logging in as %(actor)s was paused after too many failures"),
}
# The Django admin records "<object type>.<verb>"; the verb alone says enough.
ADMIN_VERBS = {
    "add": gettext_lazy("%(actor)s added %(object)s in the admin"),
    "change": gettext_lazy("%(actor)s changed %(object)s in the admin"),
    "delete": gettext_lazy("%(actor)s deleted %(object)s in the admin"),
    "password": gettext_lazy("%(actor)s changed the password of %(object)s"),
}
# Details shown in words; the others (UUIDs, checksums, "auto") are kept for the record, not the page.
DETAIL_LABELS = {
    "reason": gettext_lazy("reason"),
    "host": pgettext_lazy("audit detail", "host"),
    "user": pgettext_lazy("audit detail", "user"),
    "level": gettext_lazy("access"),
    "owner": pgettext_lazy("audit detail", "owner"),
    "fields": gettext_lazy("changed"),
    "version": gettext_lazy("version"),
    "name": pgettext_lazy("audit detail", "name"),
    "via": gettext_lazy("via"),
    "pool": gettext_lazy("storage pool"),
    "volume": gettext_lazy("volume"),
    "fingerprint": gettext_lazy("fingerprint"),
    "was": gettext_lazy("was"),
    "now": gettext_lazy("now"),
}


def _who(entry: AuditEntry) -> str:
    return entry.actor_name or str(_("the system"))


def _object(entry: AuditEntry, link: Link) -> SafeString:
    if not entry.object_type:
        return format_html("{}", _("something"))
    name = entry.object_name or f"#{entry.object_id}"
    url = link(entry.object_type, entry.object_id) if entry.object_id else ""
    return format_html('<a href="{}">{}</a>', url, name) if url else format_html("{}", name)


def _jobs(details: dict, link: Link) -> list[SafeString]:
    ids = [details["job"]] if details.get("job") else list(details.get("jobs") or [])
    shown = []
    for job_id in ids:
        label = _("job #%(id)s") % {"id": job_id}
        url = link("job", str(job_id))
        shown.append(format_html('<a href="{}">{}</a>', url, label) if url else format_html("{}", label))
    return shown


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def sentence(entry: AuditEntry, link: Link) -> SafeString:
    """The entry as one sentence, the object (and any job) linked where the viewer has a page for it."""
    template = SENTENCES.get(entry.action)
    if template is None:
        verb = entry.action.rpartition(".")[2]
        template = ADMIN_VERBS.get(verb) or gettext_lazy("%(actor)s: %(action)s on %(object)s")
    # The translated words are escaped, then the (already escaped) names go in: nothing is trusted twice.
    text = conditional_escape(str(template)) % {
        "actor": conditional_escape(_who(entry)),
        "object": _object(entry, link),
        "action": conditional_escape(entry.action),
    }
    jobs = _jobs(entry.details or {}, link)
    if jobs:
        text = format_html("{} ({})", mark_safe(text), mark_safe(", ".join(jobs)))  # noqa: S308 (escaped above)
    if entry.details and entry.details.get("auto"):
        text = format_html("{} {}", mark_safe(text), _("(automatically)"))  # noqa: S308 (escaped above)
    return mark_safe(text)  # noqa: S308 (every part escaped above)


def detail_text(entry: AuditEntry, words: dict[str, dict] | None = None) -> SafeString:
    """The details worth reading, as "reason: disk full · host: kvm-2"; empty when there are none.

    `words` turns stored codes into words per detail, e.g. {"level": {"operate": "Operate"}}: the caller
    knows the choices (they belong to the apps above).
    """
    details = entry.details or {}
    words = words or {}

    def worded(key: str, value: Any) -> str:
        known = words.get(key, {})
        # The fields an update changed come as a list of names, or as {name: new value}: name them.
        if isinstance(value, dict):
            value = list(value)
        if isinstance(value, (list, tuple)):
            return ", ".join(str(known.get(item, item)) for item in value)
        return known.get(value, _value(value))

    return format_html_join(
        " · ",
        "{}: {}",
        (
            (label, worded(key, details[key]))
            for key, label in DETAIL_LABELS.items()
            if details.get(key) not in (None, "", [])
        ),
    )
