"""Audit entries read as sentences (audit/presentation.py): names escaped, jobs linked, keys never shown."""

from __future__ import annotations

from audit.models import AuditEntry
from audit.presentation import detail_text, sentence


def entry(**fields) -> AuditEntry:
    return AuditEntry(**{"actor_name": "ux-user", "object_type": "vm", "object_id": "5", **fields})


def link(object_type: str, object_id: str) -> str:
    return {"vm": f"/vms/{object_id}/", "job": f"/jobs/{object_id}/"}.get(object_type, "")


def test_a_vm_action_with_its_job():
    text = sentence(entry(action="vm.reboot", object_name="ux-demo-1", details={"job": 59}), link)
    assert text == 'ux-user rebooted <a href="/vms/5/">ux-demo-1</a> (<a href="/jobs/59/">job #59</a>)'


def test_names_are_escaped_and_objects_without_a_page_are_not_linked():
    text = sentence(entry(action="template.update", object_type="template", object_name="<b>x</b>"), link)
    assert text == "ux-user changed the template &lt;b&gt;x&lt;/b&gt;"
    assert "<script>" not in sentence(entry(actor_name="<script>", action="vm.start", object_name="a"), link)


def test_the_system_admin_verbs_and_unknown_actions():
    assert sentence(
        entry(actor_name="", action="request.approve", object_type="request", details={"auto": True}), link
    ) == ("the system approved the request #5 (automatically)")
    assert sentence(entry(action="user.change", object_type="user", object_name="lan"), link) == (
        "ux-user changed lan in the admin"
    )
    assert sentence(entry(action="widget.spin", object_name="w"), link) == (
        'ux-user: widget.spin on <a href="/vms/5/">w</a>'
    )


def test_details_in_words_without_internal_ones():
    text = detail_text(entry(action="vm.share", details={"user": "bob", "level": "view", "sha256": "ab" * 32}))
    assert text == "user: bob · access: view"
    assert detail_text(entry(action="vm.start")) == ""


def test_a_list_of_changed_fields_is_written_out():
    # host.update and template.update record the changed fields as a list (a 500 on the audit page once).
    text = detail_text(entry(action="template.update", details={"fields": ["name", "vcpus"]}), {"fields": {}})
    assert text == "changed: name, vcpus"
    # Named in words where the caller knows the fields; host.update records {field: new value}.
    labels = {"fields": {"max_concurrent_jobs": "jobs at once"}}
    text = detail_text(entry(action="host.update", details={"fields": {"max_concurrent_jobs": 4}}), labels)
    assert text == "changed: jobs at once"
