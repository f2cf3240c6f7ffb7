"""Problem and Workload: validation (every field named), JSON round-trip, the default."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sfl_opt import Problem, ValidationError, Workload
from sfl_opt.model import channel


@pytest.fixture(scope="module")
def base() -> Problem:
    return Problem.default(seed=3)


# --------------------------------------------------------------- default scenario
def test_default_matches_spec(base: Problem) -> None:
    p = base
    assert (p.K, p.M, p.N, p.L) == (5, 20, 20, 12)
    assert np.all(p.bw_s == 1e6) and np.all(p.bw_f == 1e6)
    assert np.all(p.p_max == 0.2) and p.p_total_s == 0.6 and p.p_total_f == 0.6
    assert np.all((p.client_flops >= 0.2e12) & (p.client_flops <= 1e12))
    assert p.server_flops == 50e12 and p.batch == 8 and p.local_iters == 50
    assert p.ranks.tolist() == [1, 2, 4, 8, 16] and p.splits.tolist() == list(range(1, 12))
    # -174 dBm/Hz plus the base station's 5 dB noise figure (issue 18)
    assert math.isclose(p.noise_psd, 10 ** ((-174 + 5) / 10) * 1e-3, rel_tol=1e-12)
    assert p.max_se == 7.4
    # distances 50..500 m: gains within path loss +- a generous shadowing/fading margin
    pl_far = 10 ** (-channel.path_loss_db(500.0) / 10)
    pl_near = 10 ** (-channel.path_loss_db(50.0) / 10)
    assert np.median(p.gain_s) < pl_near * 100 and np.median(p.gain_s) > pl_far / 1000


def test_default_is_deterministic_and_seeded() -> None:
    assert Problem.default(seed=7) == Problem.default(seed=7)
    assert Problem.default(seed=7) != Problem.default(seed=8)


def test_default_overrides() -> None:
    p = Problem.default(seed=1, clients=8, subchannels=32, subchannel_bw=0.5e6, p_max=0.1,
                        local_iters=10, seq=256)
    assert (p.K, p.M, p.N) == (8, 32, 32)
    assert np.all(p.bw_s == 0.5e6) and np.all(p.p_max == 0.1) and p.local_iters == 10
    assert p.workload == Workload.gpt2(seq=256)


def test_ring_distances_uniform_over_area() -> None:
    d = channel.ring_distances(np.random.default_rng(0), 200_000, 50.0, 500.0)
    assert d.min() >= 50 and d.max() <= 500
    # P(d <= r) = (r^2 - 50^2) / (500^2 - 50^2)
    r = 300.0
    assert abs(np.mean(d <= r) - (r**2 - 50**2) / (500**2 - 50**2)) < 0.005


def test_downlink_rates_closed_form() -> None:
    g = np.array([1e-10, 1e-12])
    n0 = channel.noise_psd()
    r = channel.downlink_rates(g, 10.0, 20e6, n0)
    assert np.allclose(r, 10e6 * np.log2(1 + 5.0 * g / (n0 * 10e6)))
    assert channel.broadcast_rate(g, 10.0, 20e6, n0) == pytest.approx(
        20e6 * np.log2(1 + 10.0 * 1e-12 / (n0 * 20e6)))


# ----------------------------------------------------------------- JSON round-trip
def test_json_round_trip_exact(base: Problem) -> None:
    q = Problem.from_json(base.to_json())
    assert q == base
    for f in ("gain_s", "gain_f", "rate_down"):
        assert np.array_equal(getattr(q, f), getattr(base, f))
    assert q.to_json() == base.to_json()


def test_json_round_trip_with_inf(base: Problem) -> None:
    p = base.replace(p_total_s=math.inf, rate_bcast=math.inf,
                     rate_down=np.full(base.K, math.inf))
    q = Problem.from_json(p.to_json())
    assert q == p and math.isinf(q.p_total_s) and np.isinf(q.rate_down).all()


def test_from_json_rejects_bad_text() -> None:
    with pytest.raises(ValueError, match="json"):
        Problem.from_json("{not json")
    with pytest.raises(ValueError, match="problem"):
        Problem.from_json('{"gain_s": [[1]]}')


def test_arrays_are_read_only(base: Problem) -> None:
    with pytest.raises(ValueError):
        base.gain_s[0, 0] = 1.0
    with pytest.raises(AttributeError):
        base.batch = 3  # type: ignore[misc]


def test_permute_clients(base: Problem) -> None:
    perm = np.array([4, 0, 3, 1, 2])
    q = base.permute_clients(perm)
    assert np.array_equal(q.gain_s, base.gain_s[perm])
    assert np.array_equal(q.client_flops, base.client_flops[perm])
    with pytest.raises(ValueError, match="perm"):
        base.permute_clients([0, 0, 1, 2, 3])


# --------------------------------------------------------------- validation
BAD_FIELDS = [
    ("gain_s", lambda p: np.zeros((p.K, p.M))),
    ("gain_s", lambda p: np.ones(p.M)),
    ("gain_s", lambda p: np.ones((p.K, p.K - 1))),
    ("gain_f", lambda p: np.ones((p.K + 1, p.N))),
    ("gain_f", lambda p: np.full((p.K, p.N), np.nan)),
    ("gain_f", lambda p: np.ones((p.K, p.K - 1))),
    ("bw_s", lambda p: np.ones(p.M + 1)),
    ("bw_s", lambda p: -np.ones(p.M)),
    ("bw_f", lambda p: np.full(p.N, np.inf)),
    ("noise_psd", lambda p: 0.0),
    ("noise_psd", lambda p: "x"),
    ("p_max", lambda p: np.zeros(p.K)),
    ("p_max", lambda p: np.ones(p.K + 1)),
    ("p_total_s", lambda p: -1.0),
    ("p_total_f", lambda p: float("nan")),
    ("client_flops", lambda p: np.ones(p.K - 1)),
    ("client_flops", lambda p: np.full(p.K, np.inf)),
    ("server_flops", lambda p: 0),
    ("rate_down", lambda p: np.zeros(p.K)),
    ("rate_bcast", lambda p: -5.0),
    ("batch", lambda p: 0),
    ("batch", lambda p: 2.5),
    ("local_iters", lambda p: -1),
    ("local_iters", lambda p: True),
    ("splits", lambda p: [0, 1]),
    ("splits", lambda p: [1, 12]),
    ("splits", lambda p: [1, 1]),
    ("splits", lambda p: [1.5]),
    ("ranks", lambda p: [0, 1]),
    ("ranks", lambda p: [2, 2]),
    ("rounds", lambda p: np.ones(p.ranks.size + 1)),
    ("rounds", lambda p: np.zeros(p.ranks.size)),
    ("workload", lambda p: {"fwd": [1]}),
    ("rounds_source", lambda p: 3),
    ("client_memory", lambda p: np.ones(p.K + 1)),
    ("client_memory", lambda p: np.zeros(p.K)),
    ("client_memory", lambda p: np.full(p.K, np.nan)),
    ("client_memory", lambda p: 1e3),  # below the least need of every pair
    ("compute_power", lambda p: -np.ones(p.K)),
    ("compute_power", lambda p: np.ones(p.K + 1)),
    ("server_power", lambda p: float("inf")),
    ("bs_power", lambda p: -1.0),
    ("client_energy", lambda p: np.zeros(p.K)),
    ("client_energy", lambda p: np.full(p.K, np.nan)),
    ("gain_d", lambda p: np.ones((p.K, p.K))),       # without bw_d, p_total_d
    ("bw_d", lambda p: np.ones(p.K)),
    ("p_total_d", lambda p: 10.0),
    ("band", lambda p: "both"),
    ("max_se", lambda p: 0.0),
    ("max_se", lambda p: float("nan")),
    ("max_se", lambda p: 1e4),            # above the largest finite cap
    ("se_attenuation", lambda p: 0.0),
    ("se_attenuation", lambda p: 1.5),
    ("local_iters", lambda p: [5, 0]),
    ("convergence", lambda p: "table"),
    ("convergence", lambda p: __import__("sfl_opt.convergence").convergence.Callable(
        lambda r, i, s: -1.0)),
]


@pytest.mark.parametrize("field,make", BAD_FIELDS,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_FIELDS)])
def test_bad_field_is_named(base: Problem, field: str, make) -> None:
    with pytest.raises(ValueError) as exc:
        base.replace(**{field: make(base)})
    assert str(exc.value).startswith(field), str(exc.value)


def test_every_field_has_a_bad_input_test() -> None:
    from dataclasses import fields
    tested = {f for f, _ in BAD_FIELDS}
    assert {f.name for f in fields(Problem)} <= tested


def test_validation_error_is_value_error() -> None:
    assert issubclass(ValidationError, ValueError)


def test_replace_unknown_field(base: Problem) -> None:
    with pytest.raises(ValueError, match="replace"):
        base.replace(nonsense=1)


def test_default_bad_arguments() -> None:
    with pytest.raises(ValueError, match="seed"):
        Problem.default(seed=-1)
    with pytest.raises(ValueError, match="clients"):
        Problem.default(clients=0)
    with pytest.raises(ValueError, match="gain_s"):
        Problem.default(clients=6, subchannels=5)
    with pytest.raises(ValueError, match="client_flops"):
        Problem.default(client_flops=(2e12, 1e12))


# ------------------------------------------------------------------ workload
def test_gpt2_workload_hand_count() -> None:
    w = Workload.gpt2(layers=2, hidden=4, seq=3, vocab=10, ffn=8)
    d, s, f = 4, 3, 8
    lin = s * (4 * d * d + 2 * d * f)  # 3*(64+64) = 384 MACs
    att = 2 * s * s * d  # 72 MACs
    assert w.fwd.tolist() == [2 * (lin + att)] * 2
    assert w.bwd.tolist() == [2 * (lin + 2 * att)] * 2
    assert w.fwd_rank.tolist() == [2 * 2 * 2 * s * d] * 2
    assert w.bwd_rank.tolist() == [2 * 2 * 2 * 2 * s * d] * 2
    assert w.act_bits.tolist() == [s * d * 16] * 2
    assert w.lora_params.tolist() == [2 * 2 * d] * 2
    assert w.head_fwd == 2 * s * d * 10 and w.label_bits == s * 4
    assert w.layers == 2


WORKLOAD_BAD = [
    ("workload.fwd", dict(fwd=[1.0])),
    ("workload.bwd", dict(bwd=[1.0, -1.0])),
    ("workload.fwd_rank", dict(fwd_rank=[1.0, 2.0, 3.0])),
    ("workload.bwd_rank", dict(bwd_rank=[np.nan, 1.0])),
    ("workload.act_bits", dict(act_bits=[0.0, 1.0])),
    ("workload.lora_params", dict(lora_params=[1.0, 0.0])),
    ("workload.embed_fwd", dict(embed_fwd=-1.0)),
    ("workload.embed_bwd", dict(embed_bwd=np.inf)),
    ("workload.head_fwd", dict(head_fwd="a")),
    ("workload.head_bwd", dict(head_bwd=-2)),
    ("workload.label_bits", dict(label_bits=-1)),
    ("workload.param_bits", dict(param_bits=0)),
    ("workload.source", dict(source=5)),
]


@pytest.mark.parametrize("field,change", WORKLOAD_BAD, ids=[f for f, _ in WORKLOAD_BAD])
def test_workload_bad_field_is_named(field: str, change: dict) -> None:
    good = dict(fwd=[1.0, 1.0], bwd=[1.0, 1.0], fwd_rank=[1.0, 1.0], bwd_rank=[1.0, 1.0],
                act_bits=[8.0, 8.0], lora_params=[2.0, 2.0])
    good.update(change)
    with pytest.raises(ValueError) as exc:
        Workload(**good)
    assert str(exc.value).startswith(field)


def test_workload_dict_round_trip() -> None:
    w = Workload.gpt2(layers=3, hidden=64, seq=16)
    assert Workload.from_dict(w.to_dict()) == w
    with pytest.raises(ValueError, match="workload"):
        Workload.from_dict({**w.to_dict(), "extra": 1})


def test_gpt2_bad_arguments() -> None:
    with pytest.raises(ValueError, match="layers"):
        Workload.gpt2(layers=1)
    with pytest.raises(ValueError, match="hidden"):
        Workload.gpt2(hidden=0)
