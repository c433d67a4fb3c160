"""Forms parse input; the rules (limits, names, quotas) live in portal.services and vms.services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.models import VMRequest
from vms.models import Host, VMTemplate


class RequestForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=VMTemplate.objects.filter(active=True), widget=forms.RadioSelect, label=_("Template"), empty_label=None
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=64,
        help_text=_("Letters, digits, dots, hyphens and underscores; also the hostname."),
    )
    vcpus = forms.IntegerField(label=_("vCPUs"), min_value=1)
    memory_mib = forms.IntegerField(label=_("Memory (MiB)"), min_value=1)
    disk_gib = forms.IntegerField(label=_("Disk (GiB)"), min_value=1)
    ssh_keys = forms.CharField(
        label=_("SSH public keys"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=_("One OpenSSH public key per line (ssh-ed25519 AAAA… you@laptop)."),
    )
    run_once = forms.BooleanField(
        label=_("Run once"),
        required=False,
        help_text=_(
            "The VM is gone when it powers off (from inside or forced): its disks are removed and it is "
            "marked deleted. It cannot be started again, snapshotted, renamed or set to autostart."
        ),
    )
    note = forms.CharField(
        label=_("Note for the admins"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    host = forms.ModelChoiceField(
        queryset=Host.objects.filter(enabled=True),
        required=False,
        label=_("Host"),
        empty_label=_("Let the dashboard choose"),
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not (user and user.is_staff):
            del self.fields["host"]

    def apply_errors(self, errors: dict) -> None:
        """Put a service's ValidationError (field -> messages) on the form."""
        for field, messages in errors.items():
            target = field if field in self.fields else None
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(target, message)


class ApproveForm(forms.Form):
    host = forms.ModelChoiceField(
        queryset=Host.objects.filter(enabled=True),
        required=False,
        label=_("Host"),
        empty_label=_("Let the dashboard choose"),
    )


class InboxApproveForm(forms.Form):
    """The inbox's one form: a host for every approval it sends (automatic placement unless chosen), and
    either one request ("approve", a card's own button) or the ticked ones ("requests", the bulk button)."""

    host = forms.ModelChoiceField(
        queryset=Host.objects.filter(enabled=True).order_by("name"),
        required=False,
        label=_("Place approved VMs on"),
        empty_label=_("Automatic placement"),
    )
    # Any request: one decided meanwhile is refused by the service with its reason, not as "invalid choice".
    requests = forms.ModelMultipleChoiceField(queryset=VMRequest.objects.all(), required=False, label=_("Requests"))
    approve = forms.ModelChoiceField(queryset=VMRequest.objects.all(), required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if not data.get("approve") and not data.get("requests") and not self.errors:
            raise forms.ValidationError(_("Tick the requests to approve first."))
        return data

    def chosen(self) -> list:
        one = self.cleaned_data.get("approve")
        return [one] if one else list(self.cleaned_data["requests"].order_by("created_at", "id"))


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Who"), required=False)
    action = forms.CharField(label=_("Action"), required=False)
    object_type = forms.ChoiceField(
        label=_("Object"),
        required=False,
        choices=[
            ("", _("Any")),
            ("vm", _("VM")),
            ("host", _("Host")),
            ("template", _("Template")),
            ("request", _("Request")),
            ("quota", _("Quota")),
            ("image", _("Image")),
        ],
    )
    q = forms.CharField(label=_("Name contains"), required=False)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
