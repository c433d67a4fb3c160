from django.urls import path

from vms.views import graphics as views_graphics
from vms.views import hosts as views_hosts
from vms.views import manage, settings_boot, storage, vm_disks, vm_network, vm_settings, vm_snapshots
from vms.views import networks as views_networks
from vms.views import vms as views

urlpatterns = [
    path("vms/", views.vm_list, name="vm-list"),
    path("vms/<uuid:uuid>/", views.vm_detail, name="vm-detail"),
    path("vms/<uuid:uuid>/action/", views.vm_action, name="vm-action"),
    # the tabs of a VM's page (vms/views/vm_tabs.py)
    path("vms/<uuid:uuid>/console/", views.vm_console, name="vm-console"),
    path("vms/<uuid:uuid>/snapshots/", vm_snapshots.vm_snapshots, name="vm-snapshots"),
    path("vms/<uuid:uuid>/snapshots/new/", vm_snapshots.snapshot_create, name="vm-snapshot-create"),
    path("vms/<uuid:uuid>/snapshots/<str:name>/revert/", vm_snapshots.snapshot_revert, name="vm-snapshot-revert"),
    path("vms/<uuid:uuid>/snapshots/<str:name>/delete/", vm_snapshots.snapshot_delete, name="vm-snapshot-delete"),
    path("vms/<uuid:uuid>/disks/", vm_disks.vm_disks, name="vm-disks"),
    path("vms/<uuid:uuid>/disks/change/", vm_disks.vm_disks_change, name="vm-disks-change"),
    path("vms/<uuid:uuid>/network/", vm_network.vm_network, name="vm-network"),
    path("vms/<uuid:uuid>/network/add/", vm_network.vm_interface_add, name="vm-interface-add"),
    path("vms/<uuid:uuid>/network/<str:mac>/remove/", vm_network.vm_interface_remove, name="vm-interface-remove"),
    path("vms/<uuid:uuid>/network/<str:mac>/link/", vm_network.vm_interface_link, name="vm-interface-link"),
    path("vms/<uuid:uuid>/settings/", vm_settings.vm_settings, name="vm-settings"),
    path("vms/<uuid:uuid>/settings/boot/", settings_boot.vm_boot_order, name="vm-boot-order"),
    path("vms/<uuid:uuid>/settings/kernel/", settings_boot.vm_kernel, name="vm-kernel"),
    path("vms/<uuid:uuid>/settings/xml/preview/", settings_boot.vm_xml_preview, name="vm-xml-preview"),
    path("vms/<uuid:uuid>/settings/xml/apply/", settings_boot.vm_xml_apply, name="vm-xml-apply"),
    path("vms/<uuid:uuid>/share/", views.vm_share, name="vm-share"),
    path("vms/<uuid:uuid>/share/<int:share_id>/delete/", views.vm_unshare, name="vm-unshare"),
    path("manage/templates/", manage.template_list, name="manage-templates"),
    path("manage/templates/new/", manage.template_edit, name="manage-template-new"),
    path("manage/templates/import/", manage.template_import, name="manage-template-import"),
    path("manage/templates/<int:pk>/", manage.template_edit, name="manage-template-edit"),
    path("manage/templates/<int:pk>/preview/", manage.template_preview, name="manage-template-preview"),
    path("manage/hosts/", views_hosts.host_list, name="manage-hosts"),
    path("manage/hosts/new/", views_hosts.host_new, name="manage-host-new"),
    path("manage/hosts/<int:pk>/", views_hosts.host_detail, name="manage-host"),
    path("manage/hosts/<int:pk>/check/", views_hosts.host_check, name="manage-host-check"),
    path("manage/hosts/<int:pk>/trust-host-key/", views_hosts.host_trust, name="manage-host-trust"),
    path("manage/hosts/<int:pk>/enable/", views_hosts.host_enable, name="manage-host-enable"),
    path("manage/hosts/<int:pk>/delete/", views_hosts.host_delete, name="manage-host-delete"),
    path("manage/images/", manage.image_list, name="manage-images"),
    path("manage/images/<int:pk>/copy/", manage.image_copy, name="manage-image-copy"),
    path("manage/images/<int:pk>/delete/", manage.image_delete, name="manage-image-delete"),
    path("manage/images/<int:pk>/publish/", manage.image_publish, name="manage-image-publish"),
    path("manage/storage/", storage.storage_list, name="manage-storage"),
    path("manage/storage/<int:pk>/", storage.storage_host, name="manage-storage-host"),
    path("manage/storage/<int:pk>/refresh/", storage.storage_refresh, name="manage-storage-refresh"),
    path("manage/storage/<int:pk>/volumes/delete/", storage.storage_volume_delete, name="manage-storage-volume-delete"),
    path("manage/networks/", views_networks.network_list, name="manage-networks"),
    path("manage/networks/<int:pk>/action/", views_networks.network_action, name="manage-network-action"),
    # the graphical console
    path("vms/<uuid:uuid>/graphics/", views_graphics.graphics_console, name="vm-graphics"),
    path(
        "vms/<uuid:uuid>/graphics/spice/",
        views_graphics.graphics_console,
        {"display": "spice"},
        name="vm-graphics-spice",
    ),
    path("vms/<uuid:uuid>/graphics/vnc/", views_graphics.graphics_console, {"display": "vnc"}, name="vm-graphics-vnc"),
    path("vms/<uuid:uuid>/console-token/", views_graphics.console_token, name="vm-console-token"),
    path("vms/<uuid:uuid>/console.vv", views_graphics.console_vv, name="vm-console-vv"),
]
