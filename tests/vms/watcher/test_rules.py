"""Pure rules: which observations the watcher writes, and stats rates."""

from __future__ import annotations

from vms.choices import VMState
from vms.hypervisor.stats import DomainSample, rates, sample_from_record
from vms.watcher.observed import JOB_OWNED, state_to_write


def test_job_owned_states_are_never_overwritten():
    for state in JOB_OWNED:
        assert state_to_write(state, VMState.RUNNING) is None
        assert state_to_write(state, VMState.STOPPED) is None


def test_observed_states_follow_the_host():
    assert state_to_write(VMState.RUNNING, VMState.STOPPED) == VMState.STOPPED
    assert state_to_write(VMState.UNKNOWN, VMState.RUNNING) == VMState.RUNNING
    assert state_to_write(VMState.STOPPED, VMState.STOPPED) is None


def test_shutting_down_waits_for_the_outcome():
    assert state_to_write(VMState.SHUTTING_DOWN, VMState.RUNNING) is None
    assert state_to_write(VMState.SHUTTING_DOWN, VMState.STOPPED) == VMState.STOPPED


def test_rates_from_two_samples():
    record = {
        "vcpu.current": 2,
        "cpu.time": 1_000_000_000,
        "balloon.current": 524288,
        "balloon.rss": 262144,
        "block.count": 1,
        "block.0.rd.bytes": 1000,
        "block.0.wr.bytes": 0,
        "net.count": 1,
        "net.0.rx.bytes": 500,
        "net.0.tx.bytes": 100,
    }
    first = sample_from_record("u", record, taken_at=10.0)
    later = {**record, "cpu.time": 2_000_000_000, "block.0.rd.bytes": 6000, "net.0.rx.bytes": 5500}
    second = sample_from_record("u", later, taken_at=15.0)
    point = rates(first, second)
    assert point["cpu_percent"] == 10.0  # 1 s of CPU over 5 s on 2 vCPUs
    assert point["disk_read_bps"] == 1000 and point["net_rx_bps"] == 1000
    assert point["memory_total_mib"] == 512.0 and point["memory_used_mib"] == 256.0
    assert rates(None, first)["cpu_percent"] is None


def test_a_restarted_domain_gives_no_negative_rate():
    old = DomainSample("u", 1.0, 1, 9_000_000_000, 0, 0, 50, 0, 0, 0)
    new = DomainSample("u", 6.0, 1, 1_000_000, 0, 0, 10, 0, 0, 0)
    assert rates(old, new)["cpu_percent"] == 0.0
    assert rates(old, new)["disk_read_bps"] == 0
