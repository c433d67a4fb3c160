"""NoCloud seed ISOs for cloud-init (no Django here).

cloud-init finds the seed by its volume label `cidata` and reads two files from it: `meta-data`
and `user-data`. Both are written as JSON, which is valid YAML, so no value a person typed (a host
name, an SSH key comment) can ever become YAML structure: every string is a quoted, escaped scalar.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pycdlib

VOLUME_LABEL = "cidata"
# A host name as cloud-init sets it: RFC 1123 labels, dots between them.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class SeedError(ValueError):
    """A value cannot go into a seed; the message says which and why."""


def _json(data: Any) -> bytes:
    # ensure_ascii: every non-ASCII character becomes a \u escape, which YAML reads the same way.
    return (json.dumps(data, ensure_ascii=True, indent=2, sort_keys=True) + "\n").encode("ascii")


def meta_data_document(instance_id: str, hostname: str) -> bytes:
    return _json({"instance-id": instance_id, "local-hostname": hostname})


def user_data_document(hostname: str, ssh_keys: Iterable[str], extra: Mapping[str, Any] | None = None) -> bytes:
    """`#cloud-config` followed by a JSON document (JSON is a subset of YAML 1.2)."""
    config: dict[str, Any] = dict(extra or {})
    config.update({"hostname": hostname, "ssh_authorized_keys": list(ssh_keys)})
    return b"#cloud-config\n" + _json(config)


def _check(instance_id: str, hostname: str, ssh_keys: list[str]) -> None:
    if not isinstance(instance_id, str) or not instance_id or _CONTROL.search(instance_id) or "\n" in instance_id:
        raise SeedError("The instance id must be a non-empty single line of text.")
    if not isinstance(hostname, str) or not _HOSTNAME.match(hostname):
        raise SeedError(f"'{hostname}' cannot be a host name: use letters, digits and hyphens (dots between labels).")
    for key in ssh_keys:
        if not isinstance(key, str) or "\n" in key.strip() or "\r" in key or _CONTROL.search(key):
            raise SeedError("Each SSH public key must be one line of text.")


def build_seed_iso(
    instance_id: str, hostname: str, ssh_keys: Iterable[str], user_data: Mapping[str, Any] | None = None
) -> bytes:
    """The bytes of a NoCloud seed ISO (label `cidata`; Rock Ridge and Joliet names `meta-data`, `user-data`).

    `user_data` is a mapping of extra cloud-config keys (packages,
    runcmd, ...); the host name and SSH keys given here win over the same keys in it.
    """
    keys = [k.strip() for k in ssh_keys if k and k.strip()]
    _check(instance_id, hostname, keys)
    if user_data is not None and not isinstance(user_data, Mapping):
        raise SeedError("Extra user data must be a mapping of cloud-config keys.")
    files = {
        "meta-data": ("/METADATA.;1", meta_data_document(instance_id, hostname)),
        "user-data": ("/USERDATA.;1", user_data_document(hostname, keys, user_data)),
    }
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=VOLUME_LABEL)
    try:
        for name, (iso_path, data) in files.items():
            iso.add_fp(io.BytesIO(data), len(data), iso_path, rr_name=name, joliet_path=f"/{name}")
        out = io.BytesIO()
        iso.write_fp(out)
        return out.getvalue()
    finally:
        iso.close()
