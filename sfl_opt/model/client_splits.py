"""Per-client cut layers (``split_mode="per_client"``): the delay terms of a split vector.

Each client k runs the embedding and blocks 1..l_k; the main server runs blocks
l_k+1..L and the head *for client k's batch*. So, per iteration (docs/model.md,
"Per-client cut layers")::

    TcF_k = b WcF(l_k, r) / client_flops[k]      TcB_k = b WcB(l_k, r) / client_flops[k]
    Ts    = b sum_k Ws(l_k, r) / server_flops                 (the server's work adds up)
    S_up,k = b (act_bits[l_k] + label_bits)      S_dn,k = b act_bits[l_k]

and per round, with the federated server averaging each client-side adapter layer j over
the clients that hold it (l_k >= j)::

    S_ad,k = r param_bits sum_{j <= l_k} lora_params[j]       (client k's upload)
    S_bc   = max_k S_ad,k                                     (one broadcast of the
                                                               union: layers 1..max_k l_k)

    T_iter  = max_k (TcF_k + S_up,k/Rs_k) + Ts + max_k (S_dn,k/Rd_k + TcB_k)
    T_round = I T_iter + max_k S_ad,k/Rf_k + S_bc/rate_bcast

With every l_k equal this is exactly the common-split model of SPEC §2. Units: FLOP,
bits, s. Memory: client k's need at (l_k, r) must fit its own ``client_memory[k]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import ValidationError
from .memory import memory_table
from .problem import Problem

#: the values of ``solve(split_mode=)``: one cut for all clients, or one per client
SPLIT_MODES = ("common", "per_client")


def check_split_mode(value: Any) -> str:
    """``split_mode`` validated (``"per-client"``, the CLI spelling, is accepted)."""
    if isinstance(value, str):
        value = value.replace("-", "_")
    return v.choice("split_mode", value, SPLIT_MODES)


@dataclass(frozen=True)
class ClientTerms:
    """Per-candidate workload terms of one client's batch (problem candidate order).

    ``splits (n,)``, ``ranks (R,)``, ``rounds (R,)``; ``wcf``, ``wcb``, ``ws`` ``(n, R)``
    FLOP: b WcF, b WcB and the server's b Ws for one client's batch; ``s_up``, ``s_dn``
    ``(n,)`` bits per client per iteration; ``s_ad (n, R)`` adapter bits per client per
    round; ``fits (K, n, R)``: client k's memory need at (split, rank) within its cap.
    """

    splits: np.ndarray
    ranks: np.ndarray
    rounds: np.ndarray
    wcf: np.ndarray
    wcb: np.ndarray
    ws: np.ndarray
    s_up: np.ndarray
    s_dn: np.ndarray
    s_ad: np.ndarray
    fits: np.ndarray


def client_terms(problem: Problem, tab: Any) -> ClientTerms:
    """The :class:`ClientTerms` of ``problem`` from its full (not memory-filtered) pair
    table ``tab`` (:func:`sfl_opt.model.delay.pair_table`)."""
    pr = problem
    n, R = pr.splits.size, pr.ranks.size

    def grid(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, float).reshape(n, R)

    return ClientTerms(
        splits=pr.splits.copy(), ranks=pr.ranks.copy(), rounds=pr.rounds.copy(),
        wcf=grid(tab.w_client_fwd), wcb=grid(tab.w_client_bwd),
        ws=grid(tab.w_server) / pr.K, s_up=grid(tab.s_up)[:, 0], s_dn=grid(tab.s_dn)[:, 0],
        s_ad=grid(tab.s_ad), fits=client_fits(pr))


def client_fits(problem: Problem) -> np.ndarray:
    """``(K, len(splits), len(ranks))`` bool: client k's memory need at each candidate
    pair within its own ``client_memory[k]`` (all True when the caps are ``inf``)."""
    pr = problem
    caps = pr.client_memory
    shape = (pr.K, pr.splits.size, pr.ranks.size)
    if np.isinf(caps).all():
        return np.ones(shape, dtype=bool)
    need = memory_table(pr.workload, pr.batch, pr.splits, pr.ranks)
    return need[None, :, :] <= caps[:, None, None]


def split_vector(problem: Problem, split: Any) -> np.ndarray:
    """``split`` as a (K,) int array of candidate splits: an integer is every client's
    split; an array needs shape ``(K,)`` and candidate entries (ValidationError naming
    ``split`` otherwise)."""
    K = problem.K
    if isinstance(split, (int, np.integer)) and not isinstance(split, bool):
        out = np.full(K, int(split), dtype=np.int64)
    else:
        out = v.int_array("split", split)
        if out.shape != (K,):
            raise ValidationError("split", f"an integer or one split per client, shape ({K},)",
                                  f"shape {out.shape}")
    bad = ~np.isin(out, problem.splits)
    if bad.any():
        raise ValidationError("split", f"candidate splits of the problem "
                              f"{problem.splits.tolist()}", out.tolist())
    return out


def vector_terms(problem: Problem, splits: np.ndarray, rank: int,
                 terms: ClientTerms) -> dict[str, Any]:
    """The rate-independent terms of a split vector at ``rank`` (module docstring):
    ``tcf``, ``tcb`` (K,) s; ``ts`` s; ``s_up``, ``s_dn``, ``s_ad`` (K,) bits; ``s_bc``
    bits; ``rounds``; ``fits`` (K,) bool. ``splits`` (K,) candidate splits, ``rank`` a
    candidate rank, ``terms`` the problem's :class:`ClientTerms`."""
    pr = problem
    t = terms
    order = np.argsort(t.splits)
    i = order[np.searchsorted(t.splits, splits, sorter=order)]
    q = int(np.flatnonzero(t.ranks == rank)[0])
    s_ad = t.s_ad[i, q]
    return {"tcf": t.wcf[i, q] / pr.client_flops, "tcb": t.wcb[i, q] / pr.client_flops,
            "ts": float(np.sum(t.ws[i, q]) / pr.server_flops), "s_up": t.s_up[i],
            "s_dn": t.s_dn[i], "s_ad": s_ad, "s_bc": float(np.max(s_ad)),
            "rounds": float(t.rounds[q]), "fits": t.fits[np.arange(pr.K), i, q]}


__all__ = ["SPLIT_MODES", "ClientTerms", "check_split_mode", "client_fits", "client_terms",
           "split_vector", "vector_terms"]
