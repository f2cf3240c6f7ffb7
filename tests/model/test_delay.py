"""evaluate(): the delay terms of SPEC §2 against a hand computation; infeasible points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sfl_opt import InfeasiblePointError, Problem, Workload, evaluate
from sfl_opt.model.delay import pair_table


def tiny() -> Problem:
    """K=2, M=3, N=2, L=3 with round numbers so every term can be computed by hand."""
    w = Workload(fwd=[10.0, 20.0, 30.0], bwd=[1.0, 2.0, 3.0], fwd_rank=[0.5, 0.25, 1.0],
                 bwd_rank=[0.1, 0.2, 0.3], act_bits=[100.0, 200.0, 300.0],
                 lora_params=[4.0, 8.0, 16.0], embed_fwd=5.0, embed_bwd=7.0, head_fwd=11.0,
                 head_bwd=13.0, label_bits=50.0, param_bits=32.0)
    return Problem(
        gain_s=[[1.0, 3.0, 1.0], [2.0, 1.0, 7.0]], gain_f=[[1.0, 1.0], [1.0, 3.0]],
        bw_s=[1.0, 2.0, 1.0], bw_f=[1.0, 1.0], noise_psd=1.0, p_max=[10.0, 10.0],
        p_total_s=20.0, p_total_f=20.0, client_flops=[2.0, 4.0], server_flops=100.0,
        rate_down=[50.0, 25.0], rate_bcast=64.0, batch=2, local_iters=3, splits=[1, 2],
        ranks=[1, 4], rounds=[10.0, 6.0], workload=w)


def test_evaluate_by_hand() -> None:
    p = tiny()
    # split 2, rank 4; client 0 gets s-subchannels 0, 1; client 1 gets 2
    a_s, psd_s = [0, 0, 1], [1.0, 0.5, 1.0]
    a_f, psd_f = [1, 0], [3.0, 1.0]
    bd = evaluate(p, 2, 4, a_s, psd_s, a_f, psd_f)
    b, r = 2, 4
    WcF = 5 + (10 + 4 * 0.5) + (20 + 4 * 0.25)  # 38
    WcB = 7 + (1 + 4 * 0.1) + (2 + 4 * 0.2)  # 11.2
    Ws = 11 + 13 + 30 + 3 + 4 * (1.0 + 0.3)  # 62.2
    TcF = [b * WcF / 2, b * WcF / 4]
    TcB = [b * WcB / 2, b * WcB / 4]
    Ts = 2 * b * Ws / 100
    S_up = b * (200 + 50)
    S_dn = b * 200
    S_ad = r * 32 * (4 + 8)
    Rs = [1 * math.log2(1 + 1.0 * 1) + 2 * math.log2(1 + 0.5 * 3), 1 * math.log2(1 + 7)]
    Rf = [1 * math.log2(1 + 1.0 * 1), 1 * math.log2(1 + 3.0 * 1)]
    T_iter = (max(TcF[k] + S_up / Rs[k] for k in range(2)) + Ts
              + max(S_dn / [50, 25][k] + TcB[k] for k in range(2)))
    T_round = 3 * T_iter + max(S_ad / Rf[k] for k in range(2)) + S_ad / 64
    assert bd.client_fwd.tolist() == pytest.approx(TcF)
    assert bd.client_bwd.tolist() == pytest.approx(TcB)
    assert bd.server == pytest.approx(Ts)
    assert bd.rate_s.tolist() == pytest.approx(Rs)
    assert bd.rate_f.tolist() == pytest.approx(Rf)
    assert bd.uplink.tolist() == pytest.approx([S_up / x for x in Rs])
    assert bd.downlink.tolist() == pytest.approx([S_dn / 50, S_dn / 25])
    assert bd.fed_upload.tolist() == pytest.approx([S_ad / x for x in Rf])
    assert bd.power_s.tolist() == pytest.approx([1.0 + 1.0, 1.0])
    assert bd.t_iter == pytest.approx(T_iter)
    assert bd.t_round == pytest.approx(T_round)
    assert bd.rounds == 6.0
    assert bd.total == pytest.approx(6.0 * T_round)
    d = bd.to_dict()
    assert d["total"] == bd.total and isinstance(d["rate_s"], list)


def test_pair_table_matches_evaluate_for_every_pair() -> None:
    p = tiny()
    tab = pair_table(p)
    assert tab.split.tolist() == [1, 1, 2, 2] and tab.rank.tolist() == [1, 4, 1, 4]
    for i in range(len(tab)):
        bd = evaluate(p, int(tab.split[i]), int(tab.rank[i]), [0, 0, 1], [1, 1, 1], [0, 1],
                      [1, 1])
        assert bd.client_fwd[0] == pytest.approx(tab.w_client_fwd[i] / 2)
        assert bd.server == pytest.approx(tab.w_server[i] / 100)


def test_infinite_rates_neglect_terms() -> None:
    p = tiny().replace(rate_down=[math.inf, math.inf], rate_bcast=math.inf)
    bd = evaluate(p, 1, 1, [0, 0, 1], [1, 1, 1], [0, 1], [1, 1])
    assert bd.broadcast == 0.0 and np.all(bd.downlink == 0.0)
    assert bd.t_down_stage == pytest.approx(max(bd.client_bwd))


@pytest.mark.parametrize("kwargs,match", [
    (dict(assign_s=[0, 0, 0]), "assign_s: every client"),
    (dict(assign_f=[1, 1]), "assign_f: every client"),
    (dict(psd_s=[11.0, 0.0, 1.0]), "psd_s: client 0"),
    (dict(psd_s=[9.0, 0.0, 9.0], ), None),  # feasible: 9 + 9 <= 20
    (dict(psd_f=[9.0, 11.0]), "psd_f: client 1"),
    (dict(psd_s=[0.0, 0.0, 1.0]), "zero rate"),
    (dict(psd_s=[-1.0, 1.0, 1.0]), "psd_s"),
    (dict(assign_s=[0, 1]), "assign_s"),
    (dict(assign_s=[0, 1, 2]), "assign_s"),
])
def test_infeasible_points(kwargs, match) -> None:
    p = tiny()
    args = dict(assign_s=[0, 0, 1], psd_s=[1.0, 1.0, 1.0], assign_f=[0, 1], psd_f=[1.0, 1.0])
    args.update(kwargs)
    if match is None:
        evaluate(p, 1, 1, **args)
        return
    with pytest.raises(ValueError, match=match):
        evaluate(p, 1, 1, **args)


def test_total_power_cap() -> None:
    p = tiny().replace(p_total_s=5.0)
    with pytest.raises(InfeasiblePointError, match="p_total_s"):
        evaluate(p, 1, 1, [0, 0, 1], [2.0, 1.0, 2.0], [0, 1], [1, 1])


def test_split_and_rank_must_be_candidates() -> None:
    p = tiny()
    with pytest.raises(ValueError, match="split"):
        evaluate(p, 3, 1, [0, 0, 1], [1, 1, 1], [0, 1], [1, 1])
    with pytest.raises(ValueError, match="rank"):
        evaluate(p, 1, 2, [0, 0, 1], [1, 1, 1], [0, 1], [1, 1])
    with pytest.raises(ValueError, match="split"):
        evaluate(p, 1.0, 1, [0, 0, 1], [1, 1, 1], [0, 1], [1, 1])
