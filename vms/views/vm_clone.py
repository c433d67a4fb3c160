"""The Settings tab's "Clone" form and who sees it; the view that takes it is vm_settings.vm_clone."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from vms.models import Host, VirtualMachine
from vms.permissions import can_delete_vm, is_admin


class CloneForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name of the copy"), max_length=63)
    host = forms.ModelChoiceField(
        label=gettext_lazy("Host"),
        queryset=Host.objects.none(),
        required=False,
        empty_label=gettext_lazy("Any host with room"),
    )

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if is_admin(user):
            self.fields["host"].queryset = Host.objects.filter(enabled=True).order_by("name")
        else:
            del self.fields["host"]  # placement chooses for everyone else, as for a request


def may_clone(user, vm: VirtualMachine) -> bool:
    return can_delete_vm(user, vm) and vm.template_id is not None and not vm.run_once and vm.managed


def clone_form_for(user, vm: VirtualMachine) -> CloneForm | None:
    if not may_clone(user, vm):
        return None
    return CloneForm(initial={"name": f"{vm.name}-copy"[:63]}, prefix="clone", user=user)
