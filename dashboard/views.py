from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from vms.selectors import fleet_summary


@login_required
def home(request):
    return render(request, "home.html", {"summary": fleet_summary(request.user)})
