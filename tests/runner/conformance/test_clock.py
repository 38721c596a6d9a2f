"""Clocks: the virtual clock jumps over waits; the real one waits."""

from __future__ import annotations

import pytest

from asyncrun.service.clock import RealClock, VirtualClock
from asyncrun.service.faults import Fault


def test_the_virtual_clock_moves_only_when_told():
    clock = VirtualClock(start=100.0)
    clock.advance_to(50.0)  # never backwards
    assert clock.now() == 100.0
    clock.advance_to(160.0)
    clock.sleep(5)
    clock.elapsed(0.25)
    assert clock.now() == 165.25


def test_the_virtual_clock_starts_at_real_now():
    before = RealClock().now()
    assert VirtualClock().now() >= before


def test_a_real_clock_engine_waits_for_real_between_attempts(harness):
    # Given a throttle (retried after 1 s) on a real clock
    h = harness("core", clock=RealClock(), faults=(Fault("Unconfigured", "throttle", times=1),))
    request_id = h.engine.invoke_async("Unconfigured", {})
    h.run()
    first, second = h.attempt_starts(request_id)
    assert second - first == pytest.approx(1.0, abs=0.5)
    assert second - first >= 1.0
