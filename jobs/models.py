"""A Job is what users follow; Celery only carries it. The framework knows nothing of VMs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from jobs.choices import JobState


class Job(models.Model):
    kind = models.CharField(_("kind"), max_length=64)
    # The object a job acts on, as "app_label.model:pk", so jobs/ needs no import of other apps.
    target = models.CharField(_("target"), max_length=128, blank=True, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="jobs",
    )
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=JobState.choices, default=JobState.QUEUED, db_index=True)
    steps = models.JSONField(_("steps"), default=list, blank=True)
    current_step = models.PositiveSmallIntegerField(_("current step"), default=0)
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    log = models.JSONField(_("log"), default=list, blank=True)
    error = models.JSONField(_("error"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"
