"""Hardware catalogue (SPEC §8.2): sanity, lookups, client draws, split regimes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sfl_opt import ValidationError, Workload
from sfl_opt.model.hardware import (
    DEVICES,
    SERVERS,
    SPLIT_REGIMES,
    HardwareSpec,
    client_devices,
    clients_from,
    device,
    server,
    split_side,
)


def test_catalogue_sanity() -> None:
    assert len(DEVICES) >= 5 and len(SERVERS) >= 3
    assert {"L4", "A100", "H100"} <= set(SERVERS)
    names = [s.name for s in (*DEVICES.values(), *SERVERS.values())]
    assert len(names) == len(set(names))
    for table in (DEVICES, SERVERS):
        for key, spec in table.items():
            assert key == spec.name
            assert math.isfinite(spec.peak_flops) and spec.peak_flops > 0
            assert 0 < spec.utilisation <= 1
            assert spec.flops == pytest.approx(spec.peak_flops * spec.utilisation, rel=1e-15)
            assert spec.memory > 0 and math.isfinite(spec.memory)
            assert spec.source.strip() and spec.precision.strip() and spec.kind.strip()
    kinds = " ".join(d.kind for d in DEVICES.values())
    for word in ("phone", "laptop", "embedded", "single-board"):
        assert word in kinds
    # the range spans phones/boards to servers: every server beats every device
    assert max(d.flops for d in DEVICES.values()) < min(s.flops for s in SERVERS.values())
    # server utilisation assumptions in the stated 30-50 % band, phones lower
    assert all(0.3 <= s.utilisation <= 0.5 for s in SERVERS.values())
    assert device("iphone-15-pro-npu").utilisation < min(s.utilisation for s in SERVERS.values())


def test_spec_is_frozen_and_validated() -> None:
    spec = device("raspberry-pi-5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.flops = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="x.utilisation"):
        HardwareSpec("x", "k", 1e12, 1.5, "FP16", 1e9, "s")
    with pytest.raises(ValidationError, match="x.peak_flops"):
        HardwareSpec("x", "k", -1.0, 0.5, "FP16", 1e9, "s")


def test_lookup_errors_list_the_names() -> None:
    with pytest.raises(ValidationError, match="^devices.*jetson-agx-orin-64gb"):
        device("jetson")
    with pytest.raises(ValidationError, match="^server.*H100"):
        server("V100")
    assert server("A100").peak_flops == 312e12


def test_clients_from_cycles_a_list() -> None:
    flops, mem = clients_from(["raspberry-pi-5", "laptop-rtx-4060"], 5)
    pi, lap = device("raspberry-pi-5"), device("laptop-rtx-4060")
    np.testing.assert_array_equal(flops, [pi.flops, lap.flops, pi.flops, lap.flops, pi.flops])
    np.testing.assert_array_equal(mem, [pi.memory, lap.memory, pi.memory, lap.memory,
                                        pi.memory])
    one_f, one_m = clients_from("jetson-orin-nano-8gb", 3)
    assert one_f.shape == one_m.shape == (3,)
    assert (one_f == device("jetson-orin-nano-8gb").flops).all()


def test_clients_from_draw_is_seeded() -> None:
    names = list(DEVICES)
    a = clients_from(names, 40, 7, draw=True)
    b = clients_from(names, 40, np.random.default_rng(7), draw=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # the drawn devices are the catalogue's, and a 40-client draw uses several of them
    drawn = client_devices(names, 40, 7, draw=True)
    assert {d.name for d in drawn} <= set(names) and len({d.name for d in drawn}) >= 3
    with pytest.raises(ValidationError, match="^rng"):
        clients_from(names, 4, draw=True)
    with pytest.raises(ValidationError, match="^devices"):
        clients_from([], 4)
    with pytest.raises(ValidationError, match="^clients"):
        clients_from("raspberry-pi-5", 0)


def compute_delay(w: Workload, split: int, rank: int, batch: int, clients: int,
                  client_flops: float, server_flops: float) -> float:
    """Compute part of one iteration (SPEC §2) with identical clients, block by block."""
    wc = w.embed_fwd + w.embed_bwd
    ws = w.head_fwd + w.head_bwd
    for j in range(w.layers):
        work = w.fwd[j] + w.bwd[j] + rank * (w.fwd_rank[j] + w.bwd_rank[j])
        if j < split:
            wc += work
        else:
            ws += work
    return batch * wc / client_flops + clients * batch * ws / server_flops


def test_catalogue_has_presets_on_both_sides_of_the_threshold() -> None:
    # found from the catalogue alone: some (device, server, K) on each side
    sides = {split_side(d, s, k) for d in DEVICES for s in SERVERS for k in (1, 5, 10, 20, 50)}
    assert {"first", "last"} <= sides
    assert {r.side for r in SPLIT_REGIMES} == {"first", "last"}
    w = Workload.gpt2()
    L = w.layers
    for r in SPLIT_REGIMES:
        c, s = device(r.device).flops, server(r.server).flops
        assert r.side == ("first" if c < s / r.clients else "last")
        assert split_side(r.device, r.server, r.clients) == r.side
        delays = [compute_delay(w, sp, 8, 8, r.clients, c, s) for sp in range(1, L)]
        best = int(np.argmin(delays)) + 1
        assert best == (1 if r.side == "first" else L - 1), r
        # linear in the split: constant increments
        np.testing.assert_allclose(np.diff(delays), np.diff(delays)[0], rtol=1e-9)
