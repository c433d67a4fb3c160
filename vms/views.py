from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from vms.selectors import visible_vms


@login_required
def vm_list(request):
    return render(request, "vms/vm_list.html", {"vms": visible_vms(request.user)})
