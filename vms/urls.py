from django.urls import path

from vms import views, views_admin

urlpatterns = [
    path("vms/", views.vm_list, name="vm-list"),
    path("vms/<uuid:uuid>/", views.vm_detail, name="vm-detail"),
    path("vms/<uuid:uuid>/action/", views.vm_action, name="vm-action"),
    path("vms/<uuid:uuid>/share/", views.vm_share, name="vm-share"),
    path("vms/<uuid:uuid>/share/<int:share_id>/delete/", views.vm_unshare, name="vm-unshare"),
    path("manage/templates/", views_admin.template_list, name="manage-templates"),
    path("manage/templates/new/", views_admin.template_edit, name="manage-template-new"),
    path("manage/templates/import/", views_admin.template_import, name="manage-template-import"),
    path("manage/templates/<int:pk>/", views_admin.template_edit, name="manage-template-edit"),
    path("manage/templates/<int:pk>/preview/", views_admin.template_preview, name="manage-template-preview"),
    path("manage/images/", views_admin.image_list, name="manage-images"),
    path("manage/images/<int:pk>/copy/", views_admin.image_copy, name="manage-image-copy"),
    path("manage/images/<int:pk>/delete/", views_admin.image_delete, name="manage-image-delete"),
]
