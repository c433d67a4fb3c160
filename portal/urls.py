from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("request/", views.request_new, name="request-new"),
    path("requests/", views.request_list, name="request-list"),
    path("requests/inbox/", views.inbox, name="inbox"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("requests/<int:pk>/approve/", views.request_approve, name="request-approve"),
    path("requests/<int:pk>/reject/", views.request_reject, name="request-reject"),
    path("fleet/", views.fleet, name="fleet"),
    path("fleet/summary.json", views.fleet_summary, name="fleet-summary"),
    path("fleet/hosts/<int:pk>/", views.fleet_host, name="fleet-host"),
    path("audit/", views.audit_log, name="audit"),
]
