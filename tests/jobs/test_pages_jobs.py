"""Job pages say things in words (issue #19): targets by name with a link, steps by label, times via
`when`; staff see everyone's jobs first and may filter; a user only ever sees their own."""

from __future__ import annotations

import re

import pytest

from jobs import services
from jobs.choices import JobState
from jobs.execution import execute
from jobs.models import Job
from jobs.presentation import describe_targets
from jobs.targets import target_for
from tests.support.people import client_for, fake_host
from vms.models import VirtualMachine

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.jobs.urls")]


@pytest.fixture
def vm(alice):
    return VirtualMachine.objects.create(name="ux-demo-1", owner=alice, host=fake_host())


def test_a_target_is_named_by_its_model_and_linked_where_the_model_has_a_page(vm, monkeypatch):
    target = target_for(vm)
    assert describe_targets([target])[target].label == "ux-demo-1"
    # The model's own get_absolute_url is the link (jobs/ never imports vms to build it).
    monkeypatch.setattr(VirtualMachine, "get_absolute_url", lambda self: f"/vms/{self.uuid}/", raising=False)
    assert describe_targets([target])[target].url == f"/vms/{vm.uuid}/"
    gone = "vms.virtualmachine:999999"
    assert describe_targets([gone])[gone].label == "virtual machine #999999 (gone)"
    assert describe_targets(["tests.thing:1"])["tests.thing:1"].url == ""


def test_list_and_detail_show_the_targets_name_not_its_key(alice, vm, monkeypatch):
    monkeypatch.setattr(VirtualMachine, "get_absolute_url", lambda self: f"/vms/{self.uuid}/", raising=False)
    job = services.enqueue("test.steps", target_for(vm), alice)
    client = client_for(alice)
    for url in ("/jobs/", f"/jobs/{job.pk}/"):
        html = client.get(url).content.decode()
        assert "vms.virtualmachine:" not in html
        assert f'<a href="/vms/{vm.uuid}/">ux-demo-1</a>' in html


def test_log_lines_have_relative_times_and_step_labels(alice):
    job = services.enqueue("test.steps", "", alice)
    execute(job.pk)
    html = client_for(alice).get(f"/jobs/{job.pk}/").content.decode()
    log = html[html.index('id="job-log"') :]
    assert '<time class="when" datetime="' in log
    assert not re.search(r">\d{4}-\d\d-\d\dT", log)  # no raw ISO string as text
    assert '<span class="muted small" data-role="step">First</span>' in log
    assert ">first<" not in log
    # The log sits in a scrolling wrapper and has two columns, so a phone's width holds it.
    assert '<div class="table-wrap"><table class="data log">' in html


def test_staff_start_with_everyones_jobs_and_may_filter(alice, bob, staff):
    mine = services.enqueue("test.steps", "", staff)
    alices = services.enqueue("test.steps", "", alice)
    bobs = services.enqueue("test.steps", "", bob)
    services.cancel(bobs, bob)
    client = client_for(staff)

    def shown(**query):
        html = client.get("/jobs/", query).content.decode()
        return {job.pk for job in (mine, alices, bobs) if f'data-job-row="{job.pk}"' in html}

    assert shown() == {mine.pk, alices.pk, bobs.pk}
    assert shown(who="mine") == {mine.pk}
    assert shown(state=JobState.CANCELLED) == {bobs.pk}
    assert shown(state=JobState.QUEUED, who="mine") == {mine.pk}
    assert "<h1>All jobs" in client.get("/jobs/").content.decode()


def test_a_user_sees_only_their_own_jobs_whatever_the_query(alice, bob):
    services.enqueue("test.steps", "", alice)
    theirs = services.enqueue("test.steps", "", bob)
    client = client_for(alice)
    for query in ({}, {"who": "all"}, {"all": "1"}, {"state": "queued"}):
        html = client.get("/jobs/", query).content.decode()
        assert f'data-job-row="{theirs.pk}"' not in html
        assert "Mine</a>" not in html  # no "Mine / Everyone" choice for them


def test_the_requesters_pages_hear_of_their_jobs(alice):
    job = services.enqueue("test.steps", "", alice)
    assert f"user.{alice.pk}" in services.groups_for(job)
    assert Job.objects.get(pk=job.pk).requested_by == alice
