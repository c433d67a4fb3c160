from django.urls import path

from vms import views

urlpatterns = [
    path("vms/", views.vm_list, name="vm-list"),
]
