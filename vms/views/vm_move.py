"""The Settings tab's "Move to another host" form and who sees it; the view that takes it is
vm_settings.vm_move (docs/migration.md)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from vms.models import Host, VirtualMachine
from vms.permissions import is_admin


class MoveForm(forms.Form):
    host = forms.ModelChoiceField(
        label=gettext_lazy("New host"),
        queryset=Host.objects.none(),
        required=False,
        empty_label=gettext_lazy("The host with the most room"),
    )

    def __init__(self, *args, vm: VirtualMachine, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["host"].queryset = Host.objects.filter(enabled=True).exclude(pk=vm.host_id).order_by("name")


def move_form_for(user, vm: VirtualMachine) -> MoveForm | None:
    if not is_admin(user) or not vm.managed or vm.run_once or vm.host_id is None:
        return None
    return MoveForm(prefix="move", vm=vm)
