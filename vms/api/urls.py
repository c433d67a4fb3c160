from django.urls import include, path
from rest_framework.routers import DefaultRouter

from jobs.api_urls import router as jobs_router
from vms.api import networks as api_networks
from vms.api import storage as api_storage
from vms.api import templates as api_templates
from vms.api import vm_boot as api_vm_boot
from vms.api import vm_clone as api_vm_clone
from vms.api import vm_disks as api_vm_disks
from vms.api import vm_interfaces as api_interfaces
from vms.api import vm_migrate as api_vm_migrate
from vms.api import vm_save_template as api_vm_save_template
from vms.api import vm_snapshots as api_snapshots
from vms.api import vms as api

router = DefaultRouter()
router.register("hosts", api.HostViewSet, basename="host")
router.register("vms", api.VMViewSet, basename="vm")
router.register("templates", api_templates.TemplateViewSet, basename="template")
router.register("images", api_templates.ImageViewSet, basename="image")
router.register("networks", api_networks.NetworkViewSet, basename="network")
router.registry.extend(jobs_router.registry)

urlpatterns = [
    path("vms/<int:pk>/adopt/", api_templates.AdoptVMView.as_view(), name="vm-adopt"),
    path("vms/<int:pk>/forget/", api_templates.ForgetVMView.as_view(), name="vm-forget"),
    path("hosts/<int:pk>/pools/", api_storage.HostPoolsView.as_view(), name="host-pools"),
    path("hosts/<int:pk>/pools/<str:name>/volumes/", api_storage.PoolVolumesView.as_view(), name="pool-volumes"),
    path(
        "hosts/<int:pk>/pools/<str:name>/volumes/<str:volume>/",
        api_storage.PoolVolumeView.as_view(),
        name="pool-volume",
    ),
    path("hosts/<int:pk>/networks/", api_networks.HostNetworksView.as_view(), name="host-networks"),
    path("vms/<int:pk>/snapshots/", api_snapshots.VMSnapshotsView.as_view(), name="api-vm-snapshots"),
    path("vms/<int:pk>/snapshots/<str:name>/", api_snapshots.VMSnapshotView.as_view(), name="api-vm-snapshot"),
    path(
        "vms/<int:pk>/snapshots/<str:name>/revert/",
        api_snapshots.VMSnapshotRevertView.as_view(),
        name="api-vm-snapshot-revert",
    ),
    path("vms/<int:pk>/interfaces/", api_interfaces.VMInterfacesView.as_view(), name="api-vm-interfaces"),
    path("vms/<int:pk>/interfaces/<str:mac>/", api_interfaces.VMInterfaceView.as_view(), name="api-vm-interface"),
    path(
        "vms/<int:pk>/interfaces/<str:mac>/link/",
        api_interfaces.VMInterfaceLinkView.as_view(),
        name="api-vm-interface-link",
    ),
    path("vms/<int:pk>/boot/", api_vm_boot.VMBootView.as_view(), name="vm-boot"),
    path("vms/<int:pk>/domain-xml/", api_vm_boot.VMDomainXMLView.as_view(), name="vm-domain-xml"),
    path("vms/<int:pk>/disks/", api_vm_disks.VMDisksView.as_view(), name="api-vm-disks"),
    path("vms/<int:pk>/disks/<str:target>/", api_vm_disks.VMDiskView.as_view(), name="api-vm-disk"),
    path("vms/<int:pk>/disks/<str:target>/resize/", api_vm_disks.VMDiskResizeView.as_view(), name="api-vm-disk-resize"),
    path("vms/<int:pk>/cdrom/", api_vm_disks.VMCDROMView.as_view(), name="api-vm-cdrom"),
    path("vms/<int:pk>/clone/", api_vm_clone.VMCloneView.as_view(), name="api-vm-clone"),
    path("vms/<int:pk>/migrate/", api_vm_migrate.VMMigrateView.as_view(), name="api-vm-migrate"),
    path(
        "vms/<int:pk>/save-as-template/",
        api_vm_save_template.VMSaveAsTemplateView.as_view(),
        name="api-vm-save-as-template",
    ),
    path("", include(router.urls)),
]
