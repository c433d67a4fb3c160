"""Runners used only by tests. A real worker imports this module through JOBS_EXTRA_RUNNER_MODULES."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from jobs.errors import JobFailed, RetryableError
from jobs.registry import Runner, register


def _touch(path: str | None, text: str = "") -> None:
    if path:
        Path(path).write_text(text)


@register("test.steps")
class StepsRunner(Runner):
    label = _("Three steps")
    steps = [("first", _("First")), ("second", _("Second")), ("third", _("Third"))]

    def run(self, ctx):
        with ctx.step("first"):
            ctx.log("first step ran")
        with ctx.step("second"):
            ctx.progress(0.5)
            ctx.log("halfway", level="debug")
        if ctx.params.get("skip_third"):
            ctx.skip("third", "not needed")
        else:
            with ctx.step("third"):
                ctx.log("third step ran")


@register("test.exclusive")
class ExclusiveRunner(Runner):
    label = _("Exclusive")
    steps = [("only", _("Only step"))]
    exclusive = True

    def run(self, ctx):
        with ctx.step("only"):
            pass

    def groups(self, job):
        # Group names allow letters, digits, "-", "_" and "." only: no colon.
        return ["test-target-" + job.target.replace(":", "-")]


@register("test.flaky")
class FlakyRunner(Runner):
    """Fails with a transient error on its first `fail_times` attempts, then succeeds."""

    label = _("Flaky")
    steps = [("connect", _("Connect")), ("work", _("Work"))]
    retry_backoff = 0.2
    max_retries = 3

    def run(self, ctx):
        with ctx.step("connect"):
            pass
        with ctx.step("work"):
            if ctx.attempt <= ctx.params.get("fail_times", 0):
                raise RetryableError("host is busy", host_message="virDomainCreate: busy")
            ctx.log(f"worked on attempt {ctx.attempt}")

    def on_failure(self, ctx):
        _touch(ctx.params.get("marker"), "cleaned")


@register("test.fail")
class FailingRunner(Runner):
    label = _("Failing")
    steps = [("create", _("Create")), ("configure", _("Configure")), ("start", _("Start"))]

    def run(self, ctx):
        with ctx.step("create"):
            ctx.log("created a thing")
        with ctx.step("configure"):
            raise JobFailed("The disk could not be configured.", host_message="storage pool 'default' is full")

    def on_failure(self, ctx):
        ctx.log("removing the thing")
        _touch(ctx.params.get("marker"), "cleaned")


@register("test.boom")
class BuggyRunner(Runner):
    label = _("Buggy")
    steps = [("explode", _("Explode"))]

    def run(self, ctx):
        with ctx.step("explode"):
            raise ZeroDivisionError("secret internal detail /etc/passwd")

    def on_failure(self, ctx):
        raise RuntimeError("cleanup is broken too")


@register("test.cancel_self")
class CancelledMidwayRunner(Runner):
    """Asks for its own cancellation in step one (as a person would from the page) and must stop before two."""

    label = _("Cancelled midway")
    steps = [("one", _("One")), ("two", _("Two"))]

    def run(self, ctx):
        from django.contrib.auth import get_user_model

        from jobs import services
        from jobs.models import Job

        with ctx.step("one"):
            user = get_user_model().objects.get(pk=ctx.params["user_id"])
            services.cancel(Job.objects.get(pk=ctx.job.pk), user)
        with ctx.step("two"):
            _touch(ctx.params.get("reached_two"), "yes")

    def on_failure(self, ctx):
        _touch(ctx.params.get("marker"), "cleaned")


@register("test.sleepy")
class SleepyRunner(Runner):
    """Sleeps in step two the first time (the test kills the worker there); quick when resumed."""

    label = _("Sleepy")
    steps = [("prepare", _("Prepare")), ("wait", _("Wait")), ("finish", _("Finish"))]
    exclusive = True

    def run(self, ctx):
        marker = Path(ctx.params["marker"])
        with ctx.step("prepare"):
            pass
        with ctx.step("wait"):
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                time.sleep(60)
            ctx.log(f"resumed on attempt {ctx.attempt}")
        with ctx.step("finish"):
            pass
