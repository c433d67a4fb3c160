from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from portal import quotas
from portal.choices import OPEN_STATES, RequestState
from portal.models import VMRequest
from vms.choices import VMState
from vms.selectors import fleet_summary


@login_required
def home(request):
    user = request.user
    context = {
        "summary": fleet_summary(user),
        "quota": quotas.summary(user),
        "open_requests": VMRequest.objects.filter(requester=user, state__in=OPEN_STATES).select_related("template"),
        "pending_count": VMRequest.objects.filter(state=RequestState.PENDING).count() if user.is_staff else 0,
        "vm_state_labels": dict(VMState.choices),
        "request_state_labels": dict(RequestState.choices),
    }
    return render(request, "home.html", context)
