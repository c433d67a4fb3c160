"""`manage.py domainxml --adapt-to URI` uses a registered host's emulation choice, as VMs and previews do.

libvirt's test driver (test:///default) answers in-process; it offers only i686 guests of domain type
'test', so adapting a domain to it fails with a sentence that names the domain types we allowed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from vms.choices import Emulation
from vms.models import Host

pytestmark = pytest.mark.django_db

URI = "test:///default"
SEED = Path("/work/shared/seed/son.xml")


@pytest.fixture
def i686_domain(tmp_path) -> str:
    path = tmp_path / "son-i686.xml"
    path.write_text(SEED.read_text().replace("arch='x86_64'", "arch='i686'"))
    return str(path)


def allowed_virt_types(*args: str) -> str:
    """Adapt to the test driver and return the domain types the refusal says were allowed."""
    with pytest.raises(CommandError) as info:
        call_command("domainxml", *args, "--adapt-to", URI, stdout=io.StringIO(), stderr=io.StringIO())
    message = str(info.value)
    assert info.value.returncode == 2 and "This host offers domain types test, none of which is allowed" in message
    return message.rsplit("(", 1)[1].rstrip(").")


def test_unregistered_uri_prefers_kvm(i686_domain):
    assert allowed_virt_types(i686_domain) == "kvm, qemu"


@pytest.mark.parametrize(
    "emulation,capabilities,expected",
    [
        (Emulation.QEMU, {"kvm": True}, "qemu"),
        (Emulation.KVM, {"kvm": False}, "kvm, qemu"),
        (Emulation.AUTO, {"kvm": False}, "qemu"),
        (Emulation.AUTO, {"kvm": True}, "kvm, qemu"),
    ],
)
def test_registered_host_uses_its_emulation_choice(i686_domain, emulation, capabilities, expected):
    host = Host.objects.create(name="t", uri=URI, emulation=emulation, capabilities=capabilities)
    assert host.virt_types == tuple(expected.split(", "))
    assert allowed_virt_types(i686_domain) == expected


def test_virt_type_option_overrides_the_registered_choice(i686_domain):
    Host.objects.create(name="t", uri=URI, emulation=Emulation.QEMU)
    assert allowed_virt_types(i686_domain, "--virt-type", "kvm") == "kvm"


def test_registered_choice_reaches_adapt(i686_domain, monkeypatch):
    """The same through a successful adaptation: adapt_to_uri gets the host's virt types."""
    from vms.domainxml import AdaptResult

    seen = {}

    def fake_adapt_to_uri(domain, uri, **kwargs):
        seen.update(uri=uri, **kwargs)
        return AdaptResult(domain.to_xml(), ["adapted"])

    monkeypatch.setattr("vms.domainxml.hostcaps.adapt_to_uri", fake_adapt_to_uri)
    Host.objects.create(name="t", uri=URI, emulation=Emulation.QEMU)
    out, err = io.StringIO(), io.StringIO()
    call_command("domainxml", i686_domain, "--adapt-to", URI, stdout=out, stderr=err)
    assert seen == {"uri": URI, "virt_types": ("qemu",)}
    assert err.getvalue().strip() == "adapted" and "<domain" in out.getvalue()
