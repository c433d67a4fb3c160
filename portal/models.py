"""The self-service portal: requests, approval policies and quotas.

Written by portal/services.py and portal/quotas.py only, never by save() in views.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.choices import ApprovalMode, RequestState
from vms.models import Host, VirtualMachine, VMTemplate


class VMRequest(models.Model):
    """A user's request for a VM: holds quota from submission until it is decided or the VM exists."""

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requester"), on_delete=models.CASCADE, related_name="vm_requests"
    )
    template = models.ForeignKey(
        VMTemplate, verbose_name=_("template"), on_delete=models.PROTECT, related_name="requests"
    )
    name = models.CharField(_("name"), max_length=64)
    vcpus = models.PositiveSmallIntegerField(_("vCPUs"))
    memory_mib = models.PositiveIntegerField(_("memory (MiB)"))
    disk_gib = models.PositiveIntegerField(_("disk (GiB)"))
    ssh_keys = models.JSONField(_("SSH keys"), default=list, blank=True)
    # The VM is created transient (the seed's `virsh create`): gone from its host when it powers off.
    run_once = models.BooleanField(_("run once"), default=False)
    note = models.TextField(_("note"), blank=True)
    host = models.ForeignKey(
        Host,
        verbose_name=_("host"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Where the VM should run; empty lets the dashboard choose."),
    )
    state = models.CharField(
        _("state"), max_length=16, choices=RequestState.choices, default=RequestState.PENDING, db_index=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    auto_approved = models.BooleanField(_("approved automatically"), default=False)
    reason = models.TextField(_("reason"), blank=True)
    vm = models.ForeignKey(
        VirtualMachine,
        verbose_name=_("virtual machine"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("VM request")
        verbose_name_plural = _("VM requests")
        indexes = [models.Index(fields=["requester", "state"], name="request_requester_state")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"

    @property
    def is_open(self) -> bool:
        return self.state in (RequestState.PENDING, RequestState.APPROVED)


class ApprovalPolicy(models.Model):
    """Per template, optionally per user group: approve within quota, or wait for an admin.

    A group rule wins over the template-wide one (group empty); with none, PORTAL_DEFAULT_APPROVAL applies.
    """

    template = models.ForeignKey(
        VMTemplate, verbose_name=_("template"), on_delete=models.CASCADE, related_name="approval_policies"
    )
    group = models.ForeignKey(
        Group,
        verbose_name=_("user group"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("Empty: everyone without a rule for their group."),
    )
    mode = models.CharField(_("approval"), max_length=8, choices=ApprovalMode.choices, default=ApprovalMode.MANUAL)

    class Meta:
        ordering = ["template", "group"]
        verbose_name = _("approval policy")
        verbose_name_plural = _("approval policies")
        constraints = [
            models.UniqueConstraint(fields=["template", "group"], name="approval_policy_unique"),
            models.UniqueConstraint(
                fields=["template"],
                condition=models.Q(group__isnull=True),
                name="approval_policy_one_default_per_template",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} / {self.group or '*'}: {self.mode}"


class Quota(models.Model):
    """Limits for one user (their own VMs) or one group (all members' VMs together).

    An empty limit on a user's row means "the default" (PORTAL_DEFAULT_QUOTA); on a group's row, "no group limit".
    The user's row is also the lock that serializes that user's submissions (select_for_update).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quota",
    )
    group = models.OneToOneField(
        Group, verbose_name=_("group"), null=True, blank=True, on_delete=models.CASCADE, related_name="quota"
    )
    max_vms = models.PositiveIntegerField(_("max VMs"), null=True, blank=True)
    max_vcpus = models.PositiveIntegerField(_("max vCPUs"), null=True, blank=True)
    max_memory_mib = models.PositiveIntegerField(_("max memory (MiB)"), null=True, blank=True)
    max_disk_gib = models.PositiveIntegerField(_("max disk (GiB)"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["user__username", "group__name"]
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True) | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="quota_for_user_or_group",
            )
        ]

    def __str__(self) -> str:
        return str(self.user or self.group)
