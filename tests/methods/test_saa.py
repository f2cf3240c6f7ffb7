"""The SAA methods' deadline-paced sample loop (methods/saa.py::Paced), on a fake clock."""

from __future__ import annotations

import pytest

from sfl_opt.methods import saa


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(saa.time, "perf_counter", c)
    return c


@pytest.mark.parametrize("deadline,costs,expected", [
    (None, [5.0] * 6, 6),                  # no deadline: every item
    (100.5, [5.0] * 6, 1),                 # the first item always comes
    (112.0, [5.0] * 6, 2),                 # 100+5=105; 105+5=110 <= 112; 110+5 > 112
    (120.0, [1.0, 1.0, 10.0, 1.0, 1.0, 1.0], 3),  # after the slow item: 112 + 10 > 120
    (200.0, [5.0] * 6, 6),                 # slack: all
])
def test_paced_hands_out_what_fits_before_the_deadline(clock, deadline, costs, expected):
    paced = saa.Paced(iter(range(len(costs))), deadline)
    got = []
    for i in paced:
        got.append(i)
        clock.now += costs[i]
    assert got == list(range(expected)) and paced.used == expected
    assert paced.timed_out is (expected < len(costs))
    if deadline is not None and expected > 1:
        # every item after the first was started only when, at the previous speed, it
        # would end by the deadline
        t = 100.0
        for i in range(1, expected):
            t += costs[i - 1]
            assert t + costs[i - 1] <= deadline


def test_paced_draws_lazily(clock):
    """Items are drawn one at a time as used (the samples are expensive to draw)."""
    drawn = []

    def items():
        for i in range(100):
            drawn.append(i)
            yield i

    for _ in saa.Paced(items(), 103.0):
        clock.now += 2.0
    assert len(drawn) <= 3
