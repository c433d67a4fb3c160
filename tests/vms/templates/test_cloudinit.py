"""NoCloud seed ISO: read back with pycdlib, label and contents checked."""

from __future__ import annotations

import io
import json

import pycdlib
import pytest
import yaml

from vms.cloudinit import SeedError, build_seed_iso


def read(iso_bytes: bytes, path: str, **where) -> bytes:
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(iso_bytes))
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, **{k: v for k, v in where.items()} or {"rr_path": path})
        return out.getvalue()
    finally:
        iso.close()


def test_seed_iso_has_label_and_files():
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ7 alice@laptop"
    data = build_seed_iso("i-1234", "web-1", [key], user_data={"packages": ["nginx"]})
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "cidata"
        assert iso.has_rock_ridge() and iso.has_joliet()
    finally:
        iso.close()
    meta = read(data, "/meta-data")
    user = read(data, "/user-data")
    assert read(data, "", joliet_path="/meta-data") == meta
    assert yaml.safe_load(meta) == {"instance-id": "i-1234", "local-hostname": "web-1"}
    assert user.startswith(b"#cloud-config\n")
    assert (
        yaml.safe_load(user)
        == json.loads(user.split(b"\n", 1)[1])
        == {"hostname": "web-1", "ssh_authorized_keys": [key], "packages": ["nginx"]}
    )


def test_user_strings_cannot_become_yaml_structure():
    nasty = 'ssh-rsa AAAA x": 1, "runcmd": ["rm -rf /"], "a'
    data = build_seed_iso("i-1", "vm", [nasty, "ssh-ed25519 AAAA ü-comment: {x}"])
    user = yaml.safe_load(read(data, "/user-data"))
    assert set(user) == {"hostname", "ssh_authorized_keys"}
    assert user["ssh_authorized_keys"] == [nasty, "ssh-ed25519 AAAA ü-comment: {x}"]


@pytest.mark.parametrize(
    "args,words",
    [
        (("i-1", "bad host!", []), "cannot be a host name"),
        (("", "vm", []), "instance id"),
        (("i-1", "vm", ["ssh-rsa AAAA\nruncmd: x"]), "one line"),
    ],
)
def test_bad_values_are_refused(args, words):
    with pytest.raises(SeedError, match=words):
        build_seed_iso(*args)
