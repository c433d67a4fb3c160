"""Staff pages for templates and images. Thin: parse, authorize, call one service, render.

Previews talk to a host, so they happen only on an explicit request (a button with a host), never
while a list renders.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from vms.choices import CopyState
from vms.forms import ImageCopyForm, ImageUploadForm, PreviewForm, TemplateForm, TemplateImportForm
from vms.models import Host, Image, VMTemplate
from vms.services import images as image_services
from vms.services import template_preview as preview_services
from vms.services import templates as template_services
from vms.views.access import staff_required


def _first_messages(exc: ValidationError) -> list[str]:
    return [m for msgs in exc.message_dict.values() for m in msgs] if hasattr(exc, "error_dict") else exc.messages


@staff_required
def template_list(request):
    templates = VMTemplate.objects.all()
    return render(request, "vms/manage/template_list.html", {"templates": templates})


@staff_required
def template_edit(request, pk: int | None = None):
    template = get_object_or_404(VMTemplate, pk=pk) if pk is not None else None
    form = TemplateForm(request.POST or None, instance=template)
    if request.method == "POST" and form.is_valid():
        try:
            saved = form.save(request.user)
        except ValidationError:
            pass  # the form now carries the errors on the right fields
        else:
            if template is None:
                messages.success(request, _("Template '%(name)s' created.") % {"name": saved.name})
            else:
                messages.success(
                    request, _("Template '%(name)s' saved (version %(v)d).") % {"name": saved.name, "v": saved.version}
                )
            return redirect("manage-template-edit", pk=saved.pk)
    context = {
        "form": form,
        "template": template,
        "preview_form": PreviewForm() if template is not None else None,
        "versions": template.versions.all()[:20] if template is not None else [],
    }
    return render(request, "vms/manage/template_form.html", context)


@staff_required
def template_import(request):
    form = TemplateImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            template = template_services.import_template(
                form.cleaned_data["name"],
                form.cleaned_data["xml"],
                request.user,
                description=form.cleaned_data["description"],
            )
        except ValidationError as exc:
            for key, msgs in exc.message_dict.items():
                for message in msgs:
                    form.add_error(key if key in form.fields else None, message)
        else:
            messages.success(request, _("Template '%(name)s' imported.") % {"name": template.name})
            for note in template.import_notes:
                messages.info(request, note)
            return redirect("manage-template-edit", pk=template.pk)
    return render(request, "vms/manage/template_import.html", {"form": form})


@staff_required
def template_preview(request, pk: int):
    template = get_object_or_404(VMTemplate, pk=pk)
    form = PreviewForm(request.GET or None)
    context = {"template": template, "form": form}
    if form.is_bound and form.is_valid():
        host = form.cleaned_data["host"]
        try:
            xml, adjustments = preview_services.preview(template, host)
        except ValidationError as exc:
            context["error"] = " ".join(_first_messages(exc))
        else:
            context.update(host=host, xml=xml, adjustments=adjustments)
    return render(request, "vms/manage/template_preview.html", context)


@staff_required
def image_list(request):
    form = ImageUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            image, jobs = image_services.create_image(
                name=data["name"],
                kind=data["kind"],
                format=data["format"],
                file=data["file"],
                user=request.user,
                hosts=data["hosts"],
            )
        except ValidationError as exc:
            for key, msgs in exc.message_dict.items():
                for message in msgs:
                    form.add_error(key if key in form.fields else None, message)
        else:
            messages.success(
                request,
                ngettext(
                    "Image '%(name)s' uploaded; %(n)d copy job queued.",
                    "Image '%(name)s' uploaded; %(n)d copy jobs queued.",
                    len(jobs),
                )
                % {"name": image.name, "n": len(jobs)},
            )
            return redirect("manage-images")
    hosts = list(Host.objects.filter(enabled=True).order_by("name"))
    images = list(Image.objects.prefetch_related("copies__host", "copies__job"))
    for image in images:
        # One line per image at fleet size: the hosts that have it, counted and named in one list; only
        # copies still moving or failed get a line of their own (they need a look).
        copies = sorted(image.copies.all(), key=lambda c: c.host.name)
        image.ready_copies = [c for c in copies if c.state == CopyState.READY]
        image.unsettled_copies = [c for c in copies if c.state != CopyState.READY]
        image.ready_host_set = {c.host_id for c in image.ready_copies}
        image.ready_host_ids = ",".join(str(i) for i in sorted(image.ready_host_set))  # for image_copy.js
    return render(
        request,
        "vms/manage/image_list.html",
        {
            "form": form,
            "images": images,
            "hosts": hosts,
            "checked_hosts": [str(v) for v in (form["hosts"].value() or [])] if form.is_bound else [],
        },
    )


@staff_required
@require_POST
def image_copy(request, pk: int):
    image = get_object_or_404(Image, pk=pk)
    form = ImageCopyForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose at least one host to copy '%(name)s' to.") % {"name": image.name})
        return redirect("manage-images")
    try:
        jobs = image_services.copy_image(image, form.cleaned_data["hosts"], request.user)
    except ValidationError as exc:
        for message in _first_messages(exc):
            messages.error(request, message)
    else:
        messages.success(
            request,
            ngettext("%(n)d copy job queued for '%(name)s'.", "%(n)d copy jobs queued for '%(name)s'.", len(jobs))
            % {"n": len(jobs), "name": image.name},
        )
    return redirect("manage-images")


@staff_required
@require_POST
def image_delete(request, pk: int):
    image = get_object_or_404(Image, pk=pk)
    try:
        image_services.delete_image(image, request.user)
    except ValidationError as exc:
        for message in _first_messages(exc):
            messages.error(request, message)
    else:
        messages.success(
            request, _("Image '%(name)s' deleted here; copies on hosts were left in place.") % {"name": image.name}
        )
    return redirect("manage-images")


@staff_required
@require_POST
def image_publish(request, pk: int):
    image = get_object_or_404(Image, pk=pk)
    published = request.POST.get("published") == "1"
    try:
        image_services.set_published(image, published, request.user)
    except ValidationError as exc:
        for message in _first_messages(exc):
            messages.error(request, message)
    else:
        text = _("ISO '%(name)s' is published to users.") if published else _("ISO '%(name)s' is no longer published.")
        messages.success(request, text % {"name": image.name})
    return redirect("manage-images")
