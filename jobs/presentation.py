"""How job pages name things for people: a job's target as a linked name, steps and log lines in words.

jobs/ never imports the apps whose objects it acts on: a target "app_label.model:pk" is resolved through
Django's app registry, and the target's own model says what it is called (`__str__`) and where its page
is (`get_absolute_url`, Django's convention). A model without a page gets a name and no link.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from jobs.choices import LogLevel, StepState
from jobs.models import Job
from jobs.registry import get_runner_class
from jobs.targets import parse_target


@dataclass(frozen=True)
class TargetLink:
    label: str
    url: str = ""


def describe_targets(targets: Iterable[str]) -> dict[str, TargetLink]:
    """{target: TargetLink} for every non-empty target, one query per model (a page of jobs stays cheap)."""
    by_model: dict[str, dict[str, str]] = defaultdict(dict)
    result: dict[str, TargetLink] = {}
    for target in set(filter(None, targets)):
        try:
            label, pk = parse_target(target)
        except ValueError:
            result[target] = TargetLink(target)
            continue
        by_model[label][pk] = target
    for label, wanted in by_model.items():
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            result.update({target: TargetLink(target) for target in wanted.values()})
            continue
        found = model._default_manager.in_bulk(list(wanted))
        found = {str(pk): obj for pk, obj in found.items()}
        for pk, target in wanted.items():
            obj = found.get(pk)
            if obj is None:
                # Gone from the database: still say what it was, without a link to nowhere.
                result[target] = TargetLink(_("%(kind)s #%(id)s (gone)") % {"kind": model._meta.verbose_name, "id": pk})
                continue
            url = obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else ""
            result[target] = TargetLink(str(obj), url or "")
    return result


def describe_target(target: str) -> TargetLink | None:
    return describe_targets([target]).get(target) if target else None


def step_labels(job: Job) -> dict[str, str]:
    """{step name: label in the viewer's language}: the runner's declared labels when it is known here,
    else the label stored with the job (in the requester's language), else the name."""
    declared = {name: str(label) for name, label in getattr(get_runner_class(job.kind), "steps", ())}
    return {step["name"]: declared.get(step["name"]) or step.get("label") or step["name"] for step in job.steps}


def display_steps(job: Job) -> list[dict]:
    labels = step_labels(job)
    state_labels = dict(StepState.choices)
    return [
        {**step, "label": labels[step["name"]], "state_label": state_labels.get(step["state"], step["state"])}
        for step in job.steps
    ]


def display_log(job: Job) -> list[dict]:
    """Log lines with a real datetime (for the `when` filter) and the step and level in words."""
    labels = step_labels(job)
    level_labels = dict(LogLevel.choices)
    rows = []
    for entry in job.log:
        at = entry.get("at")
        rows.append(
            {
                **entry,
                "at_dt": parse_datetime(at) if isinstance(at, str) else at if isinstance(at, datetime) else None,
                "step_label": labels.get(entry.get("step") or "", entry.get("step") or ""),
                "level_label": level_labels.get(entry.get("level"), entry.get("level") or ""),
            }
        )
    return rows
