"""Runners by kind. Apps register theirs in `<app>/jobs.py` (imported when Django starts).

@register("vm.start")
class StartVM(Runner):
    label = _("Start")
    steps = [("boot", _("Boot"))]
    exclusive = True

    def run(self, ctx): ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from jobs.context import JobContext
    from jobs.models import Job


class Runner:
    """Defaults for a runner class; subclassing it is optional, the attributes are what count."""

    kind: str = ""
    label: Any = ""  # a (lazy) human name for the kind, e.g. _("Start"); the kind itself if empty
    steps: Sequence[tuple[str, Any]] = ()
    # True: at most one unfinished exclusive job per target; enqueue refuses a second one.
    exclusive: bool = False
    # RetryableError: how many retries before failing for good, and the first backoff in seconds
    # (doubling each time, plus up to 25 % jitter).
    max_retries: int = 4
    retry_backoff: float = 1.0

    def run(self, ctx: JobContext) -> None:
        raise NotImplementedError

    def on_failure(self, ctx: JobContext) -> None:
        """Undo what run() created, once the job has failed for good (or was cancelled mid-run)."""

    def groups(self, job: Job) -> list[str]:
        """Extra channel-layer groups that should hear about this job (the VM's, the owner's)."""
        return []


R = TypeVar("R", bound=type)

_runners: dict[str, type] = {}


def register(kind: str) -> Callable[[R], R]:
    def decorator(cls: R) -> R:
        existing = _runners.get(kind)
        # Re-importing the same module (autoreload, tests) re-registers the same class: allow that.
        if existing is not None and _qualname(existing) != _qualname(cls):
            raise ValueError(f"Job kind {kind!r} is already registered to {_qualname(existing)}.")
        names = [name for name, _label in getattr(cls, "steps", ())]
        if len(names) != len(set(names)):
            raise ValueError(f"Runner {_qualname(cls)} declares a step name twice.")
        cls.kind = kind
        _runners[kind] = cls
        return cls

    return decorator


def get_runner_class(kind: str) -> type | None:
    return _runners.get(kind)


def get_runner(kind: str) -> Any:
    """A fresh runner instance for one run; raises UnknownJobKind."""
    from jobs.errors import UnknownJobKind

    cls = _runners.get(kind)
    if cls is None:
        raise UnknownJobKind(f"No runner is registered for job kind {kind!r}.")
    return cls()


def registered_kinds() -> list[str]:
    return sorted(_runners)


def label_for(kind: str) -> Any:
    cls = _runners.get(kind)
    return (getattr(cls, "label", "") or kind) if cls else kind


def runner_setting(runner: Any, name: str) -> Any:
    """A runner attribute with the Runner default, for runner classes that do not subclass Runner."""
    return getattr(runner, name, getattr(Runner, name))


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
