"""The energy model: joules of every result, per client, per stage and in total.

Units: J, W, s, FLOP, FLOP/s, bits.

For one point (split ℓ, rank r, allocation and power) with the delay terms of
:class:`sfl_opt.model.delay.Breakdown`, per **training run** (``rounds(r)`` rounds of ``I``
local iterations):

- client k's computation: ``rounds · I · compute_power_k · (TcF_k + TcB_k)`` — the
  device draws ``compute_power_k`` W while it computes, so its energy per FLOP is
  ``compute_power_k / client_flops_k`` J/FLOP (the hardware catalogue's
  ``HardwareSpec.j_per_flop``: board power over effective throughput). For a CPU with
  the dynamic-power model of the FL literature (energy ``κ f²`` per cycle at clock
  ``f``), pass ``compute_power = κ f³`` (:func:`cpu_power`);
- client k's s-link transmissions: ``rounds · I · P_s,k · S_up / Rs_k`` (power × airtime
  of every iteration's activation uplink);
- client k's f-link adapter upload: ``rounds · P_f,k · S_ad / Rf_k``;
- the main server: ``rounds · I · server_power · Ts``;
- the base station: the downlink, ``rounds · I · Σ_k P_d,k · S_dn / R_d,k`` with the
  fixed-rate downlink's FDMA share ``P_d,k = bs_power / K`` (the model behind
  ``rate_down``, :func:`sfl_opt.model.channel.downlink_rates`) or the allocated downlink's
  power towards client k; plus the broadcast ``rounds · bs_power · S_ad / rate_bcast``.

``per_client`` (K,) is each client's computation + transmissions (what a client energy
budget ``Problem.client_energy`` bounds); ``total`` adds the server and the base station.
Not counted (stated assumptions): receive-chain and idle/standby power, the federated
server's averaging, memory traffic beyond what ``compute_power`` includes. A term whose
time is 0 (e.g. ``rate_down = inf``) costs 0 J.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _validation as v

#: a :class:`sfl_opt.Problem` (not imported: the problem module imports this one)
Problem = Any

#: Defaults of the energy fields of :class:`~sfl_opt.Problem` (W). ``compute_power``:
#: 10 W per client while computing — an edge GPU module between the Jetson Orin Nano's
#: 7 W and 15 W power modes (NVIDIA data sheet); ``server_power``: 300 W, the board
#: power of an A100 PCIe 80GB (NVIDIA data sheet, max TDP 300 W); ``bs_power``: 10 W,
#: the default scenario's base station (SPEC §6).
DEFAULTS: dict[str, float] = {"compute_power": 10.0, "server_power": 300.0,
                              "bs_power": 10.0}

#: the stages of :attr:`Energy.per_stage`
STAGES = ("client_compute", "uplink", "adapter_upload", "server_compute", "downlink",
          "broadcast")

#: relative tolerance on an energy budget when checking a point (floating-point slack)
ENERGY_RTOL = 1e-9


def cpu_power(kappa: float, freq: float) -> float:
    """Dynamic power (W) of a CPU at clock ``freq`` (Hz) whose energy per cycle is
    ``kappa · freq²`` J (effective switched capacitance ``kappa``, about 1e-28 in the FL
    literature, e.g. Yang et al., IEEE TWC 2021): ``kappa · freq³``. Its energy per FLOP
    is that over the FLOP/s it sustains."""
    kappa = v.scalar("kappa", kappa, positive=True)
    freq = v.scalar("freq", freq, positive=True)
    return kappa * freq ** 3


@dataclass(frozen=True)
class Energy:
    """Energy of one point, J per training run (module docstring).

    ``client_compute``, ``client_uplink``, ``client_adapter`` (K,): each client's
    computation, s-link transmissions and f-link adapter uploads; ``per_client`` (K,)
    their sum; ``server`` the main server's computation; ``downlink`` and ``broadcast``
    the base station's transmissions; ``total`` everything; ``rounds`` rounds(r) (so
    ``per_client / rounds`` is J per round).
    """

    client_compute: np.ndarray
    client_uplink: np.ndarray
    client_adapter: np.ndarray
    per_client: np.ndarray
    server: float
    downlink: float
    broadcast: float
    total: float
    rounds: float

    @property
    def per_stage(self) -> dict[str, float]:
        """J per training run of each stage of :data:`STAGES` (summing to ``total``)."""
        return {"client_compute": float(self.client_compute.sum()),
                "uplink": float(self.client_uplink.sum()),
                "adapter_upload": float(self.client_adapter.sum()),
                "server_compute": self.server, "downlink": self.downlink,
                "broadcast": self.broadcast}

    @property
    def base_station(self) -> float:
        """The base station's energy (downlink + broadcast), J per training run."""
        return self.downlink + self.broadcast

    @property
    def per_round(self) -> np.ndarray:
        """(K,) each client's energy per round, J."""
        return self.per_client / self.rounds

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (arrays as lists), with ``per_stage``."""
        return {"per_client": self.per_client.tolist(),
                "client_compute": self.client_compute.tolist(),
                "client_uplink": self.client_uplink.tolist(),
                "client_adapter": self.client_adapter.tolist(),
                "server": self.server, "downlink": self.downlink,
                "broadcast": self.broadcast, "base_station": self.base_station,
                "total": self.total, "rounds": self.rounds, "per_stage": self.per_stage}


def round_energy(problem: Problem, *, t_compute: np.ndarray, t_server: float,
                 power_s: np.ndarray, t_up: np.ndarray, power_f: np.ndarray,
                 t_fed: np.ndarray, t_down: np.ndarray, power_d: np.ndarray | None,
                 t_bcast: float, rounds: float = 1.0,
                 iters: float | None = None) -> Energy:
    """:class:`Energy` of ``rounds`` rounds of ``iters`` iterations (default the problem's
    I) from the per-iteration times (s): ``t_compute`` (K,) a client's forward + backward
    at its nominal speed, ``t_server`` the server's, ``t_up`` (K,) ``S_up/Rs_k``,
    ``t_down`` (K,) ``S_dn/R_d,k``; per round ``t_fed`` (K,) ``S_ad/Rf_k`` and ``t_bcast``;
    powers in W (``power_d`` None: the fixed-rate downlink's share ``bs_power / K``)."""
    pr = problem
    it = float(pr.local_iters if iters is None else iters)
    n = float(rounds)
    bs = float(pr.bs_power)  # type: ignore[arg-type]
    p_d = np.full(pr.K, bs / pr.K) if power_d is None else np.asarray(power_d, float)
    comp = n * it * pr.compute_power * np.asarray(t_compute, float)
    up = n * it * _times(power_s, t_up)
    ad = n * _times(power_f, t_fed)
    server = n * it * float(pr.server_power) * float(t_server)  # type: ignore[arg-type]
    down = n * it * float(_times(p_d, t_down).sum())
    bcast = n * bs * float(t_bcast) if t_bcast > 0 else 0.0
    per_client = comp + up + ad
    total = float(per_client.sum() + server + down + bcast)
    return Energy(comp, up, ad, per_client, float(server), down, bcast, total, n)


def _times(power: Any, t: Any) -> np.ndarray:
    """``power * t`` with 0 J where the power or the time is 0 (not nan for 0 x inf)."""
    p, tt = np.asarray(power, float), np.asarray(t, float)
    return np.where((p > 0) & (tt > 0), p * tt, 0.0)


def breakdown_energy(problem: Problem, bd: Any) -> Energy:
    """:class:`Energy` of a point from its delay terms ``bd``
    (:class:`~sfl_opt.model.delay.Breakdown`), per training run."""
    return round_energy(problem, t_compute=bd.client_fwd + bd.client_bwd,
                        t_server=bd.server, power_s=bd.power_s, t_up=bd.uplink,
                        power_f=bd.power_f, t_fed=bd.fed_upload, t_down=bd.downlink,
                        power_d=bd.power_d, t_bcast=bd.broadcast, rounds=bd.rounds)


def budget_violation(problem: Problem, energy: Energy) -> tuple[int, float, float] | None:
    """``(client, energy J, budget J)`` of the first client over its ``client_energy``
    (beyond a relative :data:`ENERGY_RTOL`), or None."""
    cap = problem.client_energy
    assert cap is not None
    over = energy.per_client > cap * (1 + ENERGY_RTOL)
    if not over.any():
        return None
    k = int(np.flatnonzero(over)[0])
    return k, float(energy.per_client[k]), float(cap[k])


def has_budget(problem: Problem) -> bool:
    """True when some client has a finite ``client_energy``."""
    return bool(np.isfinite(problem.client_energy).any())  # type: ignore[arg-type]


def validate_energy_fields(p: Problem, k: int) -> None:
    """Check and normalise the energy fields of ``p`` (defaults :data:`DEFAULTS`)."""
    set_ = object.__setattr__
    cp = DEFAULTS["compute_power"] if p.compute_power is None else p.compute_power
    if isinstance(cp, (int, float, np.integer, np.floating)) and not isinstance(cp, bool):
        cp = np.full(k, float(cp))
    set_(p, "compute_power", v.float_array("compute_power", cp, shape=(k,), nonnegative=True))
    for name in ("server_power", "bs_power"):
        val = DEFAULTS[name] if getattr(p, name) is None else getattr(p, name)
        set_(p, name, v.scalar(name, val, nonnegative=True))
    ce = p.client_energy
    if ce is None:
        ce = np.full(k, np.inf)
    elif isinstance(ce, (int, float, np.integer, np.floating)) and not isinstance(ce, bool):
        ce = np.full(k, float(ce))
    set_(p, "client_energy", v.float_array("client_energy", ce, shape=(k,), positive=True,
                                           allow_inf=True))


__all__ = ["DEFAULTS", "ENERGY_RTOL", "STAGES", "Energy", "breakdown_energy",
           "budget_violation", "cpu_power", "has_budget", "round_energy",
           "validate_energy_fields"]
