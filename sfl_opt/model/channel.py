"""Wireless channel model of the default scenarios (SPEC §6).

Units: distances in metres, gains as linear power ratios, powers in W,
bandwidths in Hz, power spectral densities in W/Hz, rates in bit/s.
"""

from __future__ import annotations

import numpy as np

#: Thermal noise power spectral density, dBm/Hz.
NOISE_DBM_PER_HZ = -174.0


def dbm_to_watt(dbm: float | np.ndarray) -> float | np.ndarray:
    """Convert dBm to W."""
    return 10.0 ** ((np.asarray(dbm, dtype=float) - 30.0) / 10.0)


def noise_psd(dbm_per_hz: float = NOISE_DBM_PER_HZ) -> float:
    """Noise power spectral density in W/Hz (default -174 dBm/Hz)."""
    return float(dbm_to_watt(dbm_per_hz))


def path_loss_db(distance_m: float | np.ndarray) -> np.ndarray:
    """3GPP macro-cell path loss ``128.1 + 37.6 log10(d / km)`` in dB."""
    d = np.asarray(distance_m, dtype=float)
    if (d <= 0).any():
        raise ValueError("distance_m: expected distances > 0 m")
    return 128.1 + 37.6 * np.log10(d / 1000.0)


def ring_distances(rng: np.random.Generator, count: int, r_min: float = 50.0,
                   r_max: float = 500.0) -> np.ndarray:
    """Distances (m) of ``count`` points uniform over the area of the ring r_min..r_max."""
    if not 0 < r_min < r_max:
        raise ValueError("r_min, r_max: expected 0 < r_min < r_max")
    u = rng.uniform(size=count)
    return np.sqrt(r_min**2 + u * (r_max**2 - r_min**2))


def ring_positions(rng: np.random.Generator, count: int, r_min: float = 50.0,
                   r_max: float = 500.0) -> np.ndarray:
    """(count, 2) positions in metres, uniform over the ring around a base station at 0."""
    d = ring_distances(rng, count, r_min, r_max)
    phi = rng.uniform(0.0, 2.0 * np.pi, size=count)
    return np.stack([d * np.cos(phi), d * np.sin(phi)], axis=1)


def large_scale_gain(distance_m: np.ndarray, shadow_db: np.ndarray | float = 0.0) -> np.ndarray:
    """Linear gain from path loss and a shadowing term (dB, added to the loss)."""
    return 10.0 ** (-(path_loss_db(distance_m) + np.asarray(shadow_db, dtype=float)) / 10.0)


def draw_link(
    rng: np.random.Generator,
    distance_m: np.ndarray,
    n_sub: int,
    shadowing_db: float = 8.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(large (K,), fading (K, n_sub))``: the large-scale linear gain of each client
    (path loss and one log-normal shadowing draw) and independent Rayleigh fading
    (|h|^2 ~ Exp(1)) per client and subchannel; the gains are ``large[:, None] * fading``."""
    d = np.asarray(distance_m, dtype=float)
    shadow = rng.normal(0.0, shadowing_db, size=d.shape)
    fading = rng.exponential(1.0, size=(d.size, n_sub))
    return large_scale_gain(d, shadow), fading


def draw_subchannel_gains(
    rng: np.random.Generator,
    distance_m: np.ndarray,
    n_sub: int,
    shadowing_db: float = 8.0,
) -> np.ndarray:
    """(K, n_sub) linear gains: path loss, one log-normal shadowing draw per client,
    independent Rayleigh fading (|h|^2 ~ Exp(1)) per client and subchannel."""
    large, fading = draw_link(rng, distance_m, n_sub, shadowing_db)
    return large[:, None] * fading


def shannon_rate(bandwidth: np.ndarray | float, power: np.ndarray | float,
                 gain: np.ndarray | float, noise: float, max_se: float = np.inf,
                 se_attenuation: float = 1.0) -> np.ndarray:
    """Rate (bit/s) of ``bandwidth`` Hz at ``power`` W over ``gain`` with noise psd ``noise``;
    truncated (TR 36.942 Annex A) at ``max_se`` bit/s/Hz with attenuation ``se_attenuation``:
    ``bw min(alpha log2(1 + SNR), max_se)``."""
    bw = np.asarray(bandwidth, dtype=float)
    snr = np.asarray(power, dtype=float) * np.asarray(gain, dtype=float) / (noise * bw)
    se = se_attenuation * (np.log1p(snr) / np.log(2.0))
    return bw * np.minimum(se, max_se)


def downlink_rates(gain: np.ndarray, total_power: float, bandwidth: float,
                   noise: float, max_se: float = np.inf,
                   se_attenuation: float = 1.0) -> np.ndarray:
    """Per-client downlink rates (bit/s) when a base station of ``total_power`` W shares
    ``bandwidth`` Hz and its power equally between the K clients (FDMA); capped as in
    :func:`shannon_rate`."""
    g = np.asarray(gain, dtype=float)
    k = g.size
    return shannon_rate(bandwidth / k, total_power / k, g, noise, max_se, se_attenuation)


def broadcast_rate(gain: np.ndarray, total_power: float, bandwidth: float,
                   noise: float, max_se: float = np.inf, se_attenuation: float = 1.0) -> float:
    """Common broadcast rate (bit/s): the whole band and power, limited by the weakest client
    (capped as in :func:`shannon_rate`)."""
    g = float(np.min(np.asarray(gain, dtype=float)))
    return float(shannon_rate(bandwidth, total_power, g, noise, max_se, se_attenuation))
