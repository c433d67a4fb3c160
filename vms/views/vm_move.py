"""The Settings tab's admin cards, "Move to another host" (docs/migration.md) and "Save as template"
(docs/save-as-template.md): their forms and who sees them; vm_settings.vm_move and
vm_settings.vm_save_template take them."""

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


class SaveAsTemplateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name of the template and its image"), max_length=100)


def save_template_form_for(user, vm: VirtualMachine) -> SaveAsTemplateForm | None:
    if not is_admin(user) or not vm.managed or vm.run_once or vm.host_id is None:
        return None
    return SaveAsTemplateForm(prefix="save", initial={"name": f"{vm.name} template"[:100]})
