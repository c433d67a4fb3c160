"""Targets are "app_label.model:pk" strings, so jobs/ never imports the apps whose objects it acts on."""

from __future__ import annotations

from django.db import models


def target_for(obj: models.Model) -> str:
    return f"{obj._meta.label_lower}:{obj.pk}"


def parse_target(target: str) -> tuple[str, str]:
    """("vms.virtualmachine", "42") from "vms.virtualmachine:42"; ValueError when malformed."""
    label, sep, pk = target.partition(":")
    if not sep or "." not in label or not pk:
        raise ValueError(f"{target!r} is not a job target of the form 'app_label.model:pk'.")
    return label, pk
