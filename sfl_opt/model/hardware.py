"""Hardware catalogue: named client devices and servers (SPEC §8.2).

Every entry is a :class:`HardwareSpec` with

- ``peak_flops``: the dense (not structured-sparse) peak in FLOP/s at ``precision``,
  taken or derived from the public spec sheet named in ``source``;
- ``utilisation``: the fraction of that peak assumed for LoRA fine-tuning of a
  GPT-2-class model (an assumption, stated per entry: 0.40–0.45 on data-centre GPUs,
  about 0.3 on edge GPUs and CPUs, 0.25 on a tablet GPU, 0.05 on a phone NPU, which is
  built for inference and runs a backward pass poorly);
- ``flops = peak_flops * utilisation``: the effective FLOP/s the delay model uses
  (``client_flops`` / ``server_flops``);
- ``memory``: bytes usable for training (decimal GB x 1e9; the device's memory less
  what the OS / other apps keep, stated per entry).

Derived peaks (sparse figures halved, INT8 halved to FP16, ...) say how in ``source``.
These are planning numbers, not measurements: change ``utilisation`` or add entries
for a specific deployment.

The split regime (docs/model.md, "When split and rank matter"): with identical
clients the per-iteration compute delay is linear in the split, so the optimum is the
first split when ``device.flops < server.flops / K`` and the last one otherwise.
:data:`SPLIT_REGIMES` lists catalogue presets on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import positive_int
from ..errors import ValidationError

GB = 1e9  # bytes per (decimal) gigabyte


@dataclass(frozen=True)
class HardwareSpec:
    """One device or server.

    ``peak_flops`` FLOP/s (dense, at ``precision``), ``utilisation`` in (0, 1],
    ``flops`` = peak_flops x utilisation FLOP/s (computed), ``memory`` bytes usable for
    training, ``source`` the public spec sheet of the peak (in words), ``kind`` the
    class of hardware, ``memory_note`` how ``memory`` was chosen, ``power`` W drawn
    while training (the board/module power or TDP of ``power_source``; energy per FLOP
    :attr:`j_per_flop`).
    """

    name: str
    kind: str
    peak_flops: float
    utilisation: float
    precision: str
    memory: float
    source: str
    memory_note: str = ""
    power: float = float("nan")
    power_source: str = ""
    flops: float = field(init=False)

    @property
    def j_per_flop(self) -> float:
        """Energy per FLOP, J/FLOP: ``power`` (W drawn while training) over the
        effective ``flops`` (FLOP/s) — the figure the energy model uses
        (``Problem.compute_power`` / ``server_power``, :mod:`sfl_opt.model.energy`)."""
        return self.power / self.flops

    def __post_init__(self) -> None:
        if not (self.peak_flops > 0 and np.isfinite(self.peak_flops)):
            raise ValidationError(f"{self.name}.peak_flops", "a finite number > 0",
                                  self.peak_flops)
        if not 0 < self.utilisation <= 1:
            raise ValidationError(f"{self.name}.utilisation", "a fraction in (0, 1]",
                                  self.utilisation)
        if not (self.power > 0 and np.isfinite(self.power)):
            raise ValidationError(f"{self.name}.power", "a finite power > 0 W", self.power)
        if not (self.memory > 0):
            raise ValidationError(f"{self.name}.memory", "bytes > 0 (inf allowed)",
                                  self.memory)
        object.__setattr__(self, "flops", float(self.peak_flops) * float(self.utilisation))


_DEVICE_LIST = (
    HardwareSpec(
        name="iphone-15-pro-npu", kind="phone NPU", peak_flops=17.5e12, utilisation=0.05,
        precision="FP16", memory=3 * GB,
        source="Apple A17 Pro announcement (Sept 2023): Neural Engine up to 35 trillion "
               "operations/s, precision not stated (reported as INT8); FP16 taken as half, "
               "17.5 TFLOPS",
        memory_note="8 GB phone; about 3 GB granted to one app",
        power=5.0,
        power_source="assumed sustained SoC power under a long ML load: phones throttle to about"
                     " 4-6 W (Apple publishes no figure; an assumption, not a measurement)",
    ),
    HardwareSpec(
        name="ipad-pro-m2-gpu", kind="tablet GPU", peak_flops=3.6e12, utilisation=0.25,
        precision="FP16",
        memory=5 * GB,
        source="Apple M2 announcement (June 2022): GPU up to 3.6 TFLOPS (FP32); Apple GPUs "
               "run FP16 at the FP32 rate",
        memory_note="8 GB unified memory; 5 GB for training",
        power=15.0,
        power_source="assumed SoC package power with the GPU loaded (Apple publishes no figure; "
                     "reviews of the M2 report roughly 10-20 W): an assumption",
    ),
    HardwareSpec(
        name="raspberry-pi-5", kind="single-board computer (CPU)", peak_flops=153.6e9,
        utilisation=0.3, precision="FP32", memory=6 * GB,
        source="Raspberry Pi 5 product brief: 4x Arm Cortex-A76 at 2.4 GHz; Arm Cortex-A76 "
               "software optimisation guide: two 128-bit FP/ASIMD FMA pipes = 16 FP32 "
               "FLOP/cycle/core, so 4 x 2.4e9 x 16 = 153.6 GFLOPS FP32",
        memory_note="8 GB board; 6 GB for training",
        power=8.0,
        power_source="assumed board power at full CPU load on all four cores (the official "
                     "supply is 27 W, a ceiling that includes USB peripherals): an assumption",
    ),
    HardwareSpec(
        name="jetson-orin-nano-8gb", kind="embedded GPU module", peak_flops=10e12,
        utilisation=0.3, precision="FP16", memory=5 * GB,
        source="NVIDIA Jetson Orin Nano series data sheet: 8GB module 40 sparse INT8 TOPS "
               "(1024 CUDA / 32 Tensor cores, 625 MHz); on Ampere sparse INT8 = 4x dense "
               "FP16, so 10 dense FP16 TFLOPS",
        memory_note="8 GB LPDDR5 shared by CPU and GPU; 5 GB for training",
        power=15.0,
        power_source="NVIDIA Jetson Orin Nano series data sheet: 8GB module power modes 7 W | 15"
                     " W; the 15 W mode (whose peak the FLOP/s assume)",
    ),
    HardwareSpec(
        name="jetson-agx-orin-64gb", kind="embedded GPU module", peak_flops=42.5e12,
        utilisation=0.3, precision="FP16", memory=56 * GB,
        source="NVIDIA Jetson AGX Orin series data sheet / technical brief: GPU 170 sparse "
               "INT8 TOPS (2048 CUDA / 64 Tensor cores, 1.3 GHz; the module's 275 TOPS "
               "include the DLAs), so 42.5 dense FP16 TFLOPS",
        memory_note="64 GB LPDDR5 shared; 56 GB for training",
        power=60.0,
        power_source="NVIDIA Jetson AGX Orin series data sheet: 64GB module 15 W - 60 W; the 60 "
                     "W mode (whose peak the FLOP/s assume)",
    ),
    HardwareSpec(
        name="laptop-rtx-4060", kind="laptop GPU", peak_flops=29.1e12, utilisation=0.35,
        precision="FP16 (FP32 accumulate)", memory=7 * GB,
        source="NVIDIA GeForce RTX 4060 Laptop GPU specifications: 233 AI TOPS (FP8, "
               "sparse, highest TGP); dense /2, FP8 to FP16 /2, FP32 accumulate on GeForce "
               "/2: 29.1 dense FP16 TFLOPS",
        memory_note="8 GB GDDR6; 7 GB for training",
        power=115.0,
        power_source="NVIDIA GeForce RTX 4060 Laptop GPU specifications: total graphics power "
                     "35-115 W; the highest TGP (whose peak the FLOP/s assume)",
    ),
)

_SERVER_LIST = (
    HardwareSpec(
        name="L4", kind="server GPU", peak_flops=121e12, utilisation=0.4,
        precision="FP16/BF16", memory=22 * GB,
        source="NVIDIA L4 data sheet: FP16/BF16 Tensor Core 242 TFLOPS with sparsity, "
               "121 dense",
        memory_note="24 GB GDDR6; 22 GB for training",
        power=72.0,
        power_source="NVIDIA L4 data sheet: max thermal design power 72 W",
    ),
    HardwareSpec(
        name="A100", kind="server GPU", peak_flops=312e12, utilisation=0.45,
        precision="FP16/BF16", memory=76 * GB,
        source="NVIDIA A100 data sheet (80GB SXM): BF16/FP16 Tensor Core 312 TFLOPS dense "
               "(624 with sparsity)",
        memory_note="80 GB HBM2e; 76 GB for training",
        power=400.0,
        power_source="NVIDIA A100 data sheet (80GB SXM): max TDP 400 W",
    ),
    HardwareSpec(
        name="H100", kind="server GPU", peak_flops=989.5e12, utilisation=0.4,
        precision="FP16/BF16", memory=76 * GB,
        source="NVIDIA H100 data sheet (SXM): BF16/FP16 Tensor Core 1,979 TFLOPS with "
               "sparsity, 989.5 dense",
        memory_note="80 GB HBM3; 76 GB for training",
        power=700.0,
        power_source="NVIDIA H100 data sheet (SXM): max TDP up to 700 W",
    ),
)

#: Client devices by name.
DEVICES: dict[str, HardwareSpec] = {d.name: d for d in _DEVICE_LIST}
#: Servers (main server of split training) by name.
SERVERS: dict[str, HardwareSpec] = {s.name: s for s in _SERVER_LIST}


def _lookup(table: dict[str, HardwareSpec], what: str, name: Any) -> HardwareSpec:
    if isinstance(name, HardwareSpec):
        return name
    if not isinstance(name, str) or name not in table:
        raise ValidationError(what, f"one of {sorted(table)}", name)
    return table[name]


def device(name: str) -> HardwareSpec:
    """The client device ``name`` of :data:`DEVICES` (error lists the known names)."""
    return _lookup(DEVICES, "devices", name)


def server(name: str) -> HardwareSpec:
    """The server ``name`` of :data:`SERVERS` (error lists the known names)."""
    return _lookup(SERVERS, "server", name)


def client_devices(devices: str | list[str] | tuple[str, ...], clients: int,
                   rng: np.random.Generator | int | None = None, *,
                   draw: bool = False) -> list[HardwareSpec]:
    """The device of each of ``clients`` clients.

    ``devices`` is one name (every client is that device) or a list of names. A list is
    **cycled** by default: client k gets ``devices[k % len(devices)]``, so the mix is
    exact and needs no randomness. With ``draw=True`` each client's device is drawn
    uniformly with replacement from the list using ``rng`` (a Generator or a seed;
    required then).
    """
    k = positive_int("clients", clients)
    names = [devices] if isinstance(devices, str) else list(devices)
    if not names:
        raise ValidationError("devices", f"a name or a non-empty list of {sorted(DEVICES)}",
                              devices)
    specs = [device(n) for n in names]
    if not draw:
        return [specs[i % len(specs)] for i in range(k)]
    if rng is None:
        raise ValidationError("rng", "a numpy Generator or an integer seed when draw=True",
                              None)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return [specs[int(i)] for i in gen.integers(0, len(specs), size=k)]


def clients_from(devices: str | list[str] | tuple[str, ...], clients: int,
                 rng: np.random.Generator | int | None = None, *,
                 draw: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(client_flops, client_memory)``, each shape ``(clients,)``, from the catalogue.

    ``client_flops`` in effective FLOP/s, ``client_memory`` in bytes usable for
    training. Which device each client gets: see :func:`client_devices` (a list is
    cycled unless ``draw=True``).
    """
    specs = client_devices(devices, clients, rng, draw=draw)
    return (np.array([s.flops for s in specs]), np.array([s.memory for s in specs]))


def split_side(device_name: str, server_name: str, clients: int) -> str:
    """Which end of the split range identical clients of ``device_name`` favour.

    ``"first"`` if device FLOP/s < server FLOP/s / ``clients`` (split 1: the server is
    faster per client), ``"last"`` if greater (split L−1), ``"tie"`` if equal. This is
    the compute part of the delay only (SPEC §8.2): the cut activation has the same
    size at every block, adapter traffic grows slightly with the split and memory caps
    may forbid late splits.
    """
    k = positive_int("clients", clients)
    c, s = device(device_name).flops, server(server_name).flops / k
    return "first" if c < s else "last" if c > s else "tie"


@dataclass(frozen=True)
class SplitRegime:
    """A catalogue preset: ``clients`` identical ``device``s served by ``server``,
    and the side of the split range (``"first"`` or ``"last"``) the compute favours."""

    device: str
    server: str
    clients: int
    side: str


#: Presets on both sides of the threshold device FLOP/s = server FLOP/s / K (checked
#: in tests/model/test_hardware.py; table in docs/model.md).
SPLIT_REGIMES: tuple[SplitRegime, ...] = (
    SplitRegime("raspberry-pi-5", "L4", 5, "first"),
    SplitRegime("iphone-15-pro-npu", "A100", 10, "first"),
    SplitRegime("jetson-orin-nano-8gb", "A100", 5, "first"),
    SplitRegime("jetson-agx-orin-64gb", "H100", 10, "first"),
    SplitRegime("jetson-agx-orin-64gb", "L4", 5, "last"),
    SplitRegime("laptop-rtx-4060", "L4", 10, "last"),
    SplitRegime("jetson-orin-nano-8gb", "L4", 20, "last"),
    SplitRegime("jetson-agx-orin-64gb", "A100", 20, "last"),
)
