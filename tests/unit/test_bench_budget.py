"""The orchestration scenario's budget arithmetic: what the 0.6x target leaves for stage work."""

from __future__ import annotations

import pytest

from bench.orchestration import stage_budget


def test_budget_is_the_target_cost_minus_one_finish_per_hop():
    # The bare chain costs 8 ms per job; at 0.5x a job may cost 16 ms; 7 hops of a 1 ms finish
    # statement take 7 of them.
    assert stage_budget(8.0, 1.0, 7, target=0.5) == pytest.approx(9.0)


def test_budget_goes_negative_when_the_protocol_alone_misses():
    assert stage_budget(6.0, 1.5, 7, target=0.6) == pytest.approx(10.0 - 10.5)


def test_default_target_is_the_scenarios():
    assert stage_budget(6.0, 1.0, 6) == pytest.approx(6.0 / 0.6 - 6.0)
