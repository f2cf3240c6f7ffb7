"""The online split federated LoRA system (arXiv 2407.02924; SPEC §4): devices, payloads,
deadline, energy budgets and the convergence-bound penalty.

Units are SI: metres, W, Hz, W/Hz, bits, FLOP, FLOP/s, s, J.

Split (split federated LoRA): each device keeps the (frozen) embedding and the
trainable task head; the edge server runs the LoRA-adapted encoder (all L blocks). One round =
``local_iters`` iterations, each on a batch of ``batch`` samples:

1. device: embedding forward, **uplink** the embeddings (``act_bits[0]`` bits a sample);
2. server: encoder forward, **downlink** the encoder outputs (``act_bits[L-1]``);
3. device: head forward + backward, **uplink** the gradient w.r.t. the encoder output
   (``act_bits[L-1]`` bits a sample);
4. server: encoder backward, LoRA update.

After the iterations the device **uplinks** its head (``head_params`` values of
``param_bits`` bits) for FedAvg aggregation. Uplink bits per round::

    bits_up   = local_iters * batch * (act_bits[0] + act_bits[L-1]) + head_params * param_bits
    bits_down = local_iters * batch * act_bits[L-1]

The convergence bound and the penalty Ψ(N) are documented in ``docs/online.md`` and
in :meth:`OnlineProblem.psi`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any

import numpy as np

from .. import _validation as v
from .._records import read_only
from ..errors import NumericalRangeError, ValidationError
from ..model import channel
from ..model.problem import _dec_nested, _enc
from ..model.workload import Workload
from .bandwidth import min_bandwidth
from .bound import psi_values, round_weights

_LN2 = math.log(2.0)


def shannon(bandwidth: np.ndarray, snr_bw: np.ndarray) -> np.ndarray:
    """Rates b·log2(1 + a/b) (bit/s) of ``bandwidth`` b Hz (> 0) at ``snr_bw`` a Hz,
    finite wherever a and b are: log1p for a/b tiny (a 1e308 Hz band), and
    ln(a/b) = ln a − ln b where a/b overflows (a bandwidth of 1e-304 Hz)."""
    b = np.asarray(bandwidth, dtype=float)
    a = np.asarray(snr_bw, dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        y = a / b
        small = b * np.log1p(y) / _LN2
        big = b * (np.log(a) - np.log(b) + np.log1p(b / a)) / _LN2
    return np.where(y < 1e300, small, big)

#: the ``sfl_opt_online_problem`` format version written by :meth:`OnlineProblem.to_json`
FORMAT_VERSION = 1
#: How the edge server's compute is shared (``OnlineProblem.server_mode``).
SERVER_MODES = ("shared", "per_device")

#: round models built in this process: ``round_model`` (one per round and channel draw)
#: and ``with_count`` (a model for another number of scheduled devices, built once per
#: round model and count: :meth:`RoundModel.with_count` keeps them); tests count them
BUILDS = {"round_model": 0, "with_count": 0}


@dataclass(frozen=True)
class RoundModel:
    """Everything the per-round solver needs for one channel draw (arrays of shape (K,)).

    - ``snr_bw``: a_k = p_k g_k / N0 in Hz, so that r_k(b) = b log2(1 + a_k / b) bit/s;
    - ``fixed_time``: compute (device + server) plus downlink time, s, when ``count``
      devices are scheduled;
    - ``bits``: uplink bits per round; ``power``: transmit power, W;
    - ``compute_energy``: device compute energy per round, J;
    - ``b_min``: minimum uplink bandwidth (Hz) meeting the deadline when ``count``
      devices are scheduled; ``inf`` when the deadline cannot be met even with
      unlimited bandwidth or b_min exceeds ``total``;
    - ``count``: the number of scheduled devices these times assume; ``server_step``:
      the server time (s) each further scheduled device adds to every device's latency
      (``server_mode="shared"``; 0 for ``"per_device"``, where nothing depends on
      ``count``); ``deadline`` s and ``total`` B Hz, to recompute ``b_min``;
    - ``b_floor``: a further per-device lower bound on the bandwidth (Hz) that
      ``b_min`` includes for every ``count`` (``None``: none), e.g. the energy guard's.
    """

    snr_bw: np.ndarray
    fixed_time: np.ndarray
    bits: np.ndarray
    power: np.ndarray
    compute_energy: np.ndarray
    b_min: np.ndarray
    count: int = 0
    server_step: float = 0.0
    deadline: float = math.inf
    total: float = math.inf
    b_floor: np.ndarray | None = None
    #: the models of other counts built from this one (count -> model)
    _counts: dict[int, RoundModel] = field(default_factory=dict, init=False, repr=False,
                                           compare=False)

    @property
    def feasible(self) -> np.ndarray:
        """(K,) bool: devices that can meet the deadline this round (``count`` scheduled)."""
        return np.isfinite(self.b_min)

    def with_count(self, count: int) -> RoundModel:
        """The model for ``count`` scheduled devices (itself when nothing depends on it),
        built once per count and kept: the policies of a round ask for the same counts
        again."""
        if self.server_step == 0.0 or count == self.count:
            return self
        count = int(count)
        hit = self._counts.get(count)
        if hit is None:
            BUILDS["with_count"] += 1
            fixed = self.fixed_time + (count - self.count) * self.server_step
            b_min = min_bandwidth(self.bits, self.deadline - fixed, self.snr_bw)
            if self.b_floor is not None:
                b_min = np.maximum(b_min, self.b_floor)
            b_min = np.where(b_min <= self.total, b_min, np.inf)
            hit = self._counts[count] = replace(self, fixed_time=fixed, b_min=b_min,
                                                count=count)
        return hit

    def with_floor(self, floor: np.ndarray) -> RoundModel:
        """The model with a further lower bound ``floor (K,)`` Hz on every device's
        bandwidth (``inf``: the device cannot be scheduled), kept by
        :meth:`with_count`; the energy guard of :func:`~.simulate.simulate` uses it."""
        f = np.asarray(floor, dtype=float)
        if self.b_floor is not None:
            f = np.maximum(f, self.b_floor)
        b_min = np.maximum(self.b_min, f)
        b_min = np.where(b_min <= self.total, b_min, np.inf)
        return replace(self, b_min=b_min, b_floor=f)

    def rate(self, bandwidth: np.ndarray) -> np.ndarray:
        """Uplink rates (bit/s) at ``bandwidth`` Hz (0 where the bandwidth is 0)."""
        b = np.asarray(bandwidth, dtype=float)
        out = np.zeros_like(b)
        pos = b > 0
        # shannon_rate(bw, power, gain, noise) with power*gain/noise folded into snr_bw
        out[pos] = shannon(b[pos], self.snr_bw[pos])
        return out

    def energy(self, bandwidth: np.ndarray) -> np.ndarray:
        """Per-round energy (J) of each device if scheduled with ``bandwidth`` Hz
        (``inf`` where the bandwidth is 0)."""
        r = self.rate(bandwidth)
        with np.errstate(divide="ignore"):
            return self.compute_energy + self.power * self.bits / r

    def latency(self, bandwidth: np.ndarray) -> np.ndarray:
        """Per-round latency (s) of each device if scheduled with ``bandwidth`` Hz
        (``count`` devices scheduled)."""
        r = self.rate(bandwidth)
        with np.errstate(divide="ignore"):
            return self.fixed_time + self.bits / r


@dataclass(frozen=True, eq=False)
class OnlineProblem:
    """The online device-scheduling and bandwidth-allocation problem of split federated
    LoRA (arXiv 2407.02924; SPEC §4). The long-term energy budget is our reading of the
    paper (its abstract does not state the long-term constraint).

    Device fields, shape (K,) unless stated:

    - ``positions (K, 2)``: device coordinates, m (the base station is at the origin);
    - ``shadowing_db``: log-normal shadowing of each device, dB (fixed over rounds);
    - ``power``: uplink transmit power, W;
    - ``flops``: device compute speed, FLOP/s;
    - ``kappa``: energy coefficient, J·s²/FLOP³ — device compute energy per round is
      ``kappa * W_dev * flops**2`` (the CMOS model E = κ·cycles·f²);
    - ``energy_budget``: long-term average energy budget, J per round.

    System fields: ``bandwidth`` B, total uplink bandwidth, Hz; ``noise_psd``, W/Hz;
    ``deadline``, per-round latency limit of a scheduled device, s; ``server_flops``,
    FLOP/s of the edge server; ``server_mode``: ``"shared"`` (default) — the server
    processes the N scheduled devices' work one after another at ``server_flops``, so
    every device waits N·W_srv/F_srv (as the SflLLM model's server does), or
    ``"per_device"`` — ``server_flops`` per device stream, W_srv/F_srv whatever N;
    ``downlink_power`` W and ``downlink_bandwidth`` Hz of the base station, shared
    equally by the K devices (``downlink_bandwidth = inf`` neglects the downlink time).

    Learning fields: ``workload`` (per-sample :class:`~sfl_opt.model.workload.Workload`),
    ``batch`` b, ``local_iters`` I, LoRA ``rank``, ``head_params`` (trainable values of
    the task head), and the constants of the convergence bound (see :meth:`psi`):
    ``smoothness`` L (1/loss unit), ``pl_constant`` μ, ``learning_rate`` η,
    ``grad_variance`` σ² (per sample), ``dissimilarity`` δ² (non-IID gradient
    dissimilarity), ``initial_gap`` Δ0 = F(w0) − F* (loss units). ``data_sizes (K,)``
    n_k, the samples each device holds (default: equal), and ``coverage_weight`` β
    (loss units, default 0): the data-share term β·(1 − Σ_{k∈S} n_k/n) of Ψ
    (:meth:`psi_set`).
    """

    positions: np.ndarray
    shadowing_db: np.ndarray
    power: np.ndarray
    flops: np.ndarray
    kappa: np.ndarray
    energy_budget: np.ndarray
    bandwidth: float
    noise_psd: float
    deadline: float
    server_flops: float
    downlink_power: float
    downlink_bandwidth: float
    workload: Workload
    batch: int
    local_iters: int
    rank: int
    head_params: float
    smoothness: float
    pl_constant: float
    learning_rate: float
    grad_variance: float
    dissimilarity: float
    initial_gap: float
    server_mode: str = "shared"
    data_sizes: np.ndarray | None = None
    coverage_weight: float = 0.0

    def __post_init__(self) -> None:
        validate_online_problem(self)

    # ------------------------------------------------------------ dimensions
    @property
    def K(self) -> int:
        """Number of devices."""
        return int(self.positions.shape[0])

    @property
    def distances(self) -> np.ndarray:
        """(K,) device-to-base-station distances, m."""
        return np.hypot(self.positions[:, 0], self.positions[:, 1])

    @property
    def mean_gain(self) -> np.ndarray:
        """(K,) large-scale gain (path loss and shadowing), linear; E[g_k^t] of a round."""
        return channel.large_scale_gain(self.distances, self.shadowing_db)

    # -------------------------------------------------------------- payloads
    @property
    def bits_up(self) -> float:
        """Uplink bits per round of a scheduled device: embeddings and head gradients
        for every iteration, plus the head for aggregation."""
        w = self.workload
        per_iter = self.batch * (w.act_bits[0] + w.act_bits[-1])
        return float(self.local_iters * per_iter + self.head_params * w.param_bits)

    @property
    def bits_down(self) -> float:
        """Downlink bits per round (encoder outputs), bits."""
        return float(self.local_iters * self.batch * self.workload.act_bits[-1])

    @property
    def device_flop(self) -> float:
        """Device FLOPs per round: embedding forward, head forward and backward."""
        w = self.workload
        return float(self.local_iters * self.batch * (w.embed_fwd + w.head_fwd + w.head_bwd))

    @property
    def server_flop(self) -> float:
        """Server FLOPs per round and device: the LoRA encoder forward and backward."""
        w = self.workload
        per_sample = float(np.sum(w.fwd + w.bwd + self.rank * (w.fwd_rank + w.bwd_rank)))
        return float(self.local_iters * self.batch * per_sample)

    @property
    def device_time(self) -> np.ndarray:
        """(K,) device compute time per round, s."""
        return self.device_flop / self.flops

    def server_time(self, count: int) -> float:
        """Server compute time per round (s) every scheduled device waits when
        ``count`` devices are scheduled: ``count``·W_srv/F_srv (``"shared"``) or
        W_srv/F_srv (``"per_device"``)."""
        unit = self.server_flop / self.server_flops
        return unit * count if self.server_mode == "shared" else unit

    @property
    def compute_time(self) -> np.ndarray:
        """(K,) device plus server compute time per round, s, with every device
        scheduled (``"per_device"``: for any number scheduled)."""
        return self.device_time + self.server_time(self.K)

    @property
    def compute_energy(self) -> np.ndarray:
        """(K,) device compute energy per round, J."""
        return self.kappa * self.device_flop * self.flops**2

    # ------------------------------------------------------ convergence bound
    @property
    def contraction(self) -> float:
        """ρ = 1 − μη, the per-round contraction factor of the bound."""
        return 1.0 - self.pl_constant * self.learning_rate

    def psi(self, n: int | np.ndarray) -> np.ndarray:
        """Convergence penalty Ψ(N) (loss units) of a round with N participants.

        From the one-round bound under L-smoothness, the PL condition and uniform
        sampling of N of K devices without replacement::

            E[F(w_{t+1})] − F* ≤ ρ (E[F(w_t)] − F*) + Ψ(N_t),   ρ = 1 − μη,
            Ψ(N) = (L η² / 2) · ( σ² / (b N) + δ² (K − N) / (N (K − 1)) ),   N ≥ 1,
            Ψ(0) = μ η Δ0     (an idle round forfeits the contraction μη·gap ≤ μη·Δ0).

        Ψ is decreasing in N; validation requires Ψ(0) ≥ Ψ(1).
        """
        n_arr = np.asarray(n, dtype=float)
        if (n_arr < 0).any() or (n_arr > self.K).any() or (n_arr != np.round(n_arr)).any():
            raise ValidationError("n", f"participant counts in 0..{self.K}", n)
        return psi_values(n_arr, self.K, self.batch, self.smoothness, self.pl_constant,
                          self.learning_rate, self.grad_variance, self.dissimilarity,
                          self.initial_gap)

    @property
    def data_share(self) -> np.ndarray:
        """(K,) p_k = n_k / Σ n_j, each device's share of the training data."""
        rel = self.data_sizes / self.data_sizes.max()   # no overflow of the sum
        return rel / rel.sum()

    def psi_set(self, scheduled: np.ndarray) -> np.ndarray:
        """Ψ(S) (loss units) of a round scheduling the set S (bool ``(K,)``, or
        ``(T, K)`` for T rounds): the participation term :meth:`psi` of N = |S| plus
        the data-share term β·(1 − Σ_{k∈S} p_k), p_k = n_k/n::

            Ψ(S) = Ψ(|S|) + β·(1 − Σ_{k∈S} n_k / n)

        The second term is the bias of an aggregated gradient that leaves out the data
        of the devices not in S (bounded gradients ‖∇F_k‖ ≤ G give β = ηG²; the term
        linear in the left-out data of Chen et al., IEEE Trans. Wireless Commun.
        20(1), 2021). It is 0 with every device and β for an idle round.
        """
        a = np.asarray(scheduled, dtype=bool)
        if a.shape[-1:] != (self.K,):
            raise ValidationError("scheduled", f"shape (..., K) with K = {self.K}",
                                  f"shape {a.shape}")
        n = a.sum(axis=-1)
        return self.psi_table[n] + self.coverage_weight * (1.0 - a @ self.data_share)

    @cached_property
    def psi_table(self) -> np.ndarray:
        """(K+1,) Ψ(0..K) (read-only)."""
        table = self.psi(np.arange(self.K + 1))
        read_only(table)
        return table

    def weights(self, rounds: int) -> np.ndarray:
        """(rounds,) round weights w_t = ρ^(T−1−t) of the bound after T = ``rounds``
        rounds: gap_T ≤ ρ^T Δ0 + Σ_t w_t Ψ(N_t). The last round has weight 1."""
        return round_weights(self.contraction, v.positive_int("rounds", rounds))

    def bound(self, counts: np.ndarray) -> float:
        """The convergence bound ρ^T Δ0 + Σ_t w_t Ψ(N_t) after the rounds with
        participant counts ``counts`` (loss units)."""
        c = np.asarray(counts)
        T = int(c.size)
        if T == 0:
            return float(self.initial_gap)
        return float(self.contraction**T * self.initial_gap
                     + np.sum(self.weights(T) * self.psi(c)))

    # ---------------------------------------------------------------- rounds
    def draw_gains(self, rng: np.random.Generator) -> np.ndarray:
        """(K,) channel gains of one round: large-scale gain times Rayleigh block fading
        (|h|² ~ Exp(1), independent across devices and rounds)."""
        return self.mean_gain * rng.exponential(1.0, size=self.K)

    def downlink_rate(self, gains: np.ndarray) -> np.ndarray:
        """(K,) downlink rates (bit/s): the base station shares its power and band
        equally among the K devices (``inf`` if ``downlink_bandwidth`` is inf)."""
        if math.isinf(self.downlink_bandwidth):
            return np.full(self.K, np.inf)
        # channel.downlink_rates's FDMA share, with log1p (a 1e308 Hz band keeps its rate)
        share = self.downlink_bandwidth / self.K
        return shannon(np.full(self.K, share),
                       self.downlink_power / self.K * np.asarray(gains) / self.noise_psd)

    def round_model(self, gains: np.ndarray, count: int | None = None) -> RoundModel:
        """The per-round quantities for channel gains ``gains`` (K,) (linear), with
        ``count`` devices scheduled (default K; only ``"shared"`` depends on it, see
        :meth:`RoundModel.with_count`)."""
        BUILDS["round_model"] += 1
        g = v.float_array("gains", gains, shape=(self.K,), positive=True)
        n = self.K if count is None else int(count)
        if not 0 <= n <= self.K:
            raise ValidationError("count", f"a number of devices in 0..{self.K}", count)
        snr_bw = self.power * g / self.noise_psd
        fixed = self.device_time + self.server_time(n) + self.bits_down / self.downlink_rate(g)
        bits = np.full(self.K, self.bits_up)
        b_min = min_bandwidth(bits, self.deadline - fixed, snr_bw)
        b_min = np.where(b_min <= self.bandwidth, b_min, np.inf)
        step = self.server_flop / self.server_flops if self.server_mode == "shared" else 0.0
        return RoundModel(snr_bw=snr_bw, fixed_time=fixed, bits=bits, power=self.power,
                          compute_energy=self.compute_energy, b_min=b_min, count=n,
                          server_step=step, deadline=self.deadline, total=self.bandwidth)

    # ---------------------------------------------------------------- copies
    def replace(self, **changes: Any) -> OnlineProblem:
        """A validated copy with some fields changed."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ValidationError("replace", "field names of OnlineProblem "
                                  f"{sorted(f.name for f in fields(self))}", unknown)
        return replace(self, **changes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OnlineProblem):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain-Python representation (lists, floats, ints, strings); non-finite floats
        become the strings ``'inf'``/``'-inf'``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            val = getattr(self, f.name)
            if isinstance(val, np.ndarray):
                out[f.name] = _enc_nested(val.tolist())
            elif isinstance(val, Workload):
                out[f.name] = val.to_dict()
            else:
                out[f.name] = _enc(val)
        return out

    def to_json(self, indent: int | None = 1) -> str:
        """JSON text that :meth:`from_json` turns back into an equal problem (exactly:
        floats are written with ``repr`` precision)."""
        return json.dumps({"sfl_opt_online_problem": FORMAT_VERSION, **self.to_dict()},
                          indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OnlineProblem:
        """Inverse of :meth:`to_dict`; every field is validated (errors name it)."""
        if not isinstance(data, dict):
            raise ValidationError("online_problem", "a JSON object of OnlineProblem fields",
                                  type(data).__name__)
        data = dict(data)
        version = data.pop("sfl_opt_online_problem", FORMAT_VERSION)
        if isinstance(version, bool) or version != FORMAT_VERSION:
            raise ValidationError("sfl_opt_online_problem", f"format version {FORMAT_VERSION} "
                                  "(this version of sfl-opt reads only that one)", version)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError("online_problem", f"only the fields {sorted(known)}",
                                  unknown)
        missing = sorted(known - set(data) - {"server_mode", "data_sizes",
                                              "coverage_weight"})
        if missing:
            raise ValidationError("online_problem", "every OnlineProblem field",
                                  f"missing {missing}")
        data = {k: _dec_nested(x) if k != "workload" else x for k, x in data.items()}
        data["workload"] = Workload.from_dict(data["workload"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> OnlineProblem:
        """Parse the output of :meth:`to_json`."""
        return cls.from_dict(v.json_text("json", text))

    # ---------------------------------------------------------- the default
    @classmethod
    def default(
        cls,
        seed: int = 0,
        devices: int = 20,
        *,
        bandwidth: float | None = None,
        power: float = 0.2,
        flops: tuple[float, float] = (0.2e12, 1.0e12),
        kappa: float = 5e-36,
        energy_budget: float = 0.15,
        deadline: float = 3.0,
        server_flops: float = 50e12,
        server_mode: str = "shared",
        downlink_power: float = 10.0,
        downlink_bandwidth: float | None = None,
        layers: int = 12,
        hidden: int = 768,
        seq: int = 128,
        classes: int = 2,
        batch: int = 4,
        local_iters: int = 1,
        rank: int = 8,
        r_min: float = 50.0,
        r_max: float = 500.0,
        shadowing_db: float = 8.0,
        smoothness: float = 1.0,
        pl_constant: float = 1e-3,
        learning_rate: float = 0.1,
        grad_variance: float = 4.0,
        dissimilarity: float = 1.0,
        initial_gap: float = 200.0,
        data_sizes: np.ndarray | None = None,
        coverage_weight: float = 0.0,
    ) -> OnlineProblem:
        """The default scenario, drawn with ``seed``: ``devices`` devices uniform over
        the ring ``r_min``..``r_max`` m, 3GPP path loss with ``shadowing_db`` dB
        log-normal shadowing, -174 dBm/Hz noise, B = ``bandwidth`` Hz (default 1 MHz
        per device: 20 MHz for 20 devices), a ``downlink_power`` W base station over
        ``downlink_bandwidth`` Hz (default: B) shared equally, a ``server_flops``
        FLOP/s server (``server_mode``: ``"shared"`` by the scheduled devices, the
        default, or ``"per_device"`` streams), ``power`` W,
        compute uniform in ``flops`` FLOP/s, GPT-2 small encoder (``layers``,
        ``hidden``, sequence ``seq``) with a ``classes``-way token-classification head
        (``hidden*classes + classes`` parameters), 16-bit activations, 32-bit head
        values. Every keyword is an override.
        """
        v.seed("seed", seed)
        k = v.positive_int("devices", devices)
        if isinstance(flops, str) or not hasattr(flops, "__len__") or len(flops) != 2:
            raise ValidationError("flops", "a (low, high) pair of FLOP/s", flops)
        lo, hi = (v.scalar("flops", x, positive=True) for x in flops)
        if hi < lo:
            raise ValidationError("flops", "a (low, high) range with low <= high", flops)
        v.positive_int("classes", classes)
        # name the override (the channel helpers would report numpy's words)
        r_min = v.scalar("r_min", r_min, positive=True)
        r_max = v.scalar("r_max", r_max, positive=True)
        if not r_min < r_max:
            raise ValidationError("r_max", f"a radius > r_min={r_min:g} m", r_max)
        shadowing_db = v.scalar("shadowing_db", shadowing_db, nonnegative=True)
        for name, val in (("power", power), ("kappa", kappa), ("energy_budget", energy_budget),
                          ("deadline", deadline), ("server_flops", server_flops),
                          ("downlink_power", downlink_power)):
            v.scalar(name, val, positive=True)
        if bandwidth is not None:
            v.scalar("bandwidth", bandwidth, positive=True)
        if downlink_bandwidth is not None:
            v.scalar("downlink_bandwidth", downlink_bandwidth, positive=True, allow_inf=True)
        for name, val in (("layers", layers), ("hidden", hidden), ("seq", seq),
                          ("batch", batch), ("local_iters", local_iters), ("rank", rank)):
            v.positive_int(name, val)
        if rank > hidden:
            raise ValidationError("rank", f"a LoRA rank <= the hidden width d={hidden}", rank)
        rng = np.random.default_rng(seed)
        positions = channel.ring_positions(rng, k, r_min, r_max)
        shadow = rng.normal(0.0, shadowing_db, size=k)
        dev_flops = rng.uniform(lo, hi, size=k)
        workload = Workload.gpt2(layers=layers, hidden=hidden, seq=seq, vocab=classes)
        if bandwidth is None:
            bandwidth = 1e6 * k
        if downlink_bandwidth is None:
            downlink_bandwidth = bandwidth
        return cls(
            positions=positions,
            shadowing_db=shadow,
            power=np.full(k, float(power)),
            flops=dev_flops,
            kappa=np.full(k, float(kappa)),
            energy_budget=np.full(k, float(energy_budget)),
            bandwidth=float(bandwidth),
            noise_psd=channel.noise_psd(),
            deadline=float(deadline),
            server_flops=float(server_flops),
            downlink_power=float(downlink_power),
            downlink_bandwidth=float(downlink_bandwidth),
            workload=workload,
            batch=batch,
            local_iters=local_iters,
            rank=rank,
            head_params=float(hidden * classes + classes),
            smoothness=smoothness,
            pl_constant=pl_constant,
            learning_rate=learning_rate,
            grad_variance=grad_variance,
            dissimilarity=dissimilarity,
            initial_gap=initial_gap,
            server_mode=server_mode,
            data_sizes=data_sizes,
            coverage_weight=coverage_weight,
        )


def _enc_nested(x: Any) -> Any:
    if isinstance(x, list):
        return [_enc_nested(y) for y in x]
    return _enc(x)


def validate_online_problem(p: OnlineProblem) -> None:
    """Check every field of ``p`` and store normalised read-only arrays.

    Raises :class:`~sfl_opt.errors.ValidationError` (a ``ValueError``) naming the field.
    """
    set_ = object.__setattr__
    pos = v.float_array("positions", p.positions, ndim=2)
    if pos.shape[1] != 2:
        raise ValidationError("positions", "shape (K, 2)", f"shape {pos.shape}")
    k = pos.shape[0]
    if not (np.hypot(pos[:, 0], pos[:, 1]) > 0).all():
        raise ValidationError("positions", "devices away from the base station (distance > 0)",
                              pos.tolist())
    set_(p, "positions", pos)
    set_(p, "shadowing_db", v.float_array("shadowing_db", p.shadowing_db, shape=(k,)))
    for name in ("power", "flops", "energy_budget"):
        set_(p, name, v.float_array(name, getattr(p, name), shape=(k,), positive=True))
    set_(p, "kappa", v.float_array("kappa", p.kappa, shape=(k,), nonnegative=True))
    for name in ("bandwidth", "noise_psd", "deadline", "server_flops", "downlink_power"):
        set_(p, name, v.scalar(name, getattr(p, name), positive=True))
    set_(p, "downlink_bandwidth", v.scalar("downlink_bandwidth", p.downlink_bandwidth,
                                           positive=True, allow_inf=True))
    if not isinstance(p.workload, Workload):
        raise ValidationError("workload", "a sfl_opt.Workload", type(p.workload).__name__)
    for name in ("batch", "local_iters", "rank"):
        set_(p, name, v.positive_int(name, getattr(p, name)))
    set_(p, "head_params", v.scalar("head_params", p.head_params, nonnegative=True))
    for name in ("smoothness", "pl_constant", "learning_rate", "initial_gap"):
        set_(p, name, v.scalar(name, getattr(p, name), positive=True))
    for name in ("grad_variance", "dissimilarity"):
        set_(p, name, v.scalar(name, getattr(p, name), nonnegative=True))
    if not p.learning_rate * p.smoothness <= 1.0:
        raise ValidationError("learning_rate", f"η <= 1/L = {1.0 / p.smoothness:g}",
                              p.learning_rate)
    if not p.pl_constant <= p.smoothness:
        raise ValidationError("pl_constant", f"μ <= L = {p.smoothness:g}", p.pl_constant)
    v.choice("server_mode", p.server_mode, SERVER_MODES)
    sizes = np.ones(k) if p.data_sizes is None else p.data_sizes
    set_(p, "data_sizes", v.float_array("data_sizes", sizes, shape=(k,), positive=True))
    set_(p, "coverage_weight", v.scalar("coverage_weight", p.coverage_weight,
                                        nonnegative=True))
    with np.errstate(over="ignore", invalid="ignore"):
        e_comp = p.kappa * p.device_flop * p.flops**2
    if not np.isfinite(e_comp).all():
        k = int(np.argmax(~np.isfinite(e_comp)))
        raise NumericalRangeError(
            "kappa", "a compute energy κ·W_dev·f² per round within float64 range "
            f"(device {k}: W_dev = {p.device_flop:.4g} FLOP, f = {p.flops[k]:.4g} FLOP/s)",
            float(p.kappa[k]))
    psi01 = psi_values(np.array([0.0, 1.0]), k, p.batch, p.smoothness, p.pl_constant,
                 p.learning_rate, p.grad_variance, p.dissimilarity, p.initial_gap)
    if psi01[0] < psi01[1]:
        raise ValidationError(
            "initial_gap", f"Ψ(0) = μηΔ0 >= Ψ(1) = {psi01[1]:.4g}, i.e. Δ0 >= "
            f"{psi01[1] / (p.pl_constant * p.learning_rate):.4g}", p.initial_gap)
