"""Placement of a template that boots an ISO of the library (Install from ISO): only hosts with a ready
copy of that ISO. Database rows only."""

from __future__ import annotations

import pytest

from sandbox import bootstrap
from sandbox.install import DEMO_INSTALLER_VOLUME
from tests.support.people import fake_host
from vms.choices import CopyState, ImageFormat, ImageKind
from vms.models import Image, ImageCopy
from vms.services.placement import Need, _candidates, why_not

pytestmark = pytest.mark.django_db
GIB = 2**30


def host_named(name: str):
    host = fake_host(name, f"test:///{name}")
    host.capabilities["pools"] = [
        {"name": "default", "active": True, "capacity": 100 * GIB, "allocation": 0, "available": 100 * GIB}
    ]
    host.save()
    return next(h for h in _candidates() if h.pk == host.pk)


def test_only_hosts_with_a_ready_copy_of_the_templates_iso_fit():
    template = bootstrap.ensure_install_template()
    image = Image.objects.create(
        name="Demo installer", kind=ImageKind.ISO, format=ImageFormat.ISO, volume=DEMO_INSTALLER_VOLUME
    )
    with_copy, copying, without = host_named("with-iso"), host_named("copying"), host_named("no-iso")
    ImageCopy.objects.create(image=image, host=with_copy, volume=image.volume, state=CopyState.READY)
    ImageCopy.objects.create(image=image, host=copying, volume=image.volume, state=CopyState.COPYING)
    need = Need(1, 256, 1)
    assert why_not(with_copy, template, need) is None
    assert (
        why_not(copying, template, need)
        == "copying does not have the ISO Demo installer yet (copy it from the Images page)."
    )
    assert "no-iso does not have the ISO Demo installer" in why_not(without, template, need)


def test_a_cdrom_volume_that_is_no_library_image_is_not_required():
    template = bootstrap.ensure_install_template()  # its ISO volume is not registered as an image here
    assert why_not(host_named("plain"), template, Need(1, 256, 1)) is None
