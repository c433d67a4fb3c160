"""A Job is what users follow; Celery only carries it. The framework knows nothing of VMs.

Fields are written by jobs/services.py and jobs/context.py only, never by save() elsewhere.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from jobs.choices import FINISHED, JobState


class Job(models.Model):
    kind = models.CharField(_("kind"), max_length=64, db_index=True)
    # The object a job acts on, as "app_label.model:pk", so jobs/ needs no import of other apps.
    target = models.CharField(_("target"), max_length=128, blank=True, db_index=True)
    # Equal to `target` while an exclusive job is unfinished, NULL otherwise: the unique constraint
    # below makes the database itself refuse a second unfinished exclusive job on the same target,
    # on SQLite and PostgreSQL alike (both treat NULLs as distinct).
    lock_target = models.CharField(_("lock"), max_length=128, null=True, blank=True, editable=False)  # noqa: DJ001
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    # Celery queue the job was sent to ("" = the default), kept so a retry goes to the same place.
    queue = models.CharField(_("queue"), max_length=64, blank=True)
    # The requester's language: the worker writes log lines and errors in it.
    language = models.CharField(_("language"), max_length=16, blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=JobState.choices, default=JobState.QUEUED, db_index=True
    )
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    # [{"name", "label", "state", "started_at", "finished_at"}], in the runner's declared order.
    steps = models.JSONField(_("steps"), default=list, blank=True)
    current_step = models.CharField(_("current step"), max_length=64, blank=True)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    # [{"at", "level", "step", "message"}]
    log = models.JSONField(_("log"), default=list, blank=True)
    # {"step", "message", "host_message"} once the job failed or was cancelled; {} otherwise.
    error = models.JSONField(_("error"), default=dict, blank=True)
    # How many times a worker started running this job (retries and resumes after a lost worker count).
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    retry_at = models.DateTimeField(_("next retry"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    # The Celery worker (its hostname) running the current attempt, and when that attempt last showed
    # it is alive: jobs.execution beats while a runner runs, and fail_lost_jobs fails a running job
    # whose beat stopped for longer than the broker would wait before handing its message out again.
    worker = models.CharField(_("worker"), max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        constraints = [
            models.UniqueConstraint(fields=["lock_target"], name="job_one_unfinished_exclusive_per_target"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="job_progress_at_most_100"),
        ]
        indexes = [models.Index(fields=["requested_by", "-created_at"], name="job_requester_recent")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def step_label(self, name: str) -> str:
        for step in self.steps:
            if step.get("name") == name:
                return step.get("label") or name
        return name
