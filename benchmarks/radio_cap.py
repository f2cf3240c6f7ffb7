"""How the default numbers move with the realistic radio (issue 18): the spectral-efficiency
cap (``max_se``, truncated Shannon) and the base station's noise figure.

Run: ``.venv/bin/python benchmarks/radio_cap.py [--seeds 10] [--json out.json]``

For each seed of the default scenario, SflLLM (``solve(Problem.default(seed, ...))``) under
four radios: the first edition (``max_se=inf, noise_figure_db=0``), the noise figure alone,
the cap alone and the new default (``max_se=7.4, noise_figure_db=5``). Prints the median and
mean T_total (s), the per-seed change against the first edition, and the spectral
efficiency ``rate / bw`` of the used s-link subchannels (psd > 0) at the solved points.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from sfl_opt import Problem, solve

RADIOS = {
    "first edition (max_se=inf, NF 0 dB)": {"max_se": math.inf, "noise_figure_db": 0.0},
    "noise figure only (max_se=inf, NF 5 dB)": {"max_se": math.inf, "noise_figure_db": 5.0},
    "cap only (max_se=7.4, NF 0 dB)": {"max_se": 7.4, "noise_figure_db": 0.0},
    "new default (max_se=7.4, NF 5 dB)": {"max_se": 7.4, "noise_figure_db": 5.0},
}


def spectral_efficiencies(p: Problem, res) -> np.ndarray:
    """bit/s/Hz of each used s-link subchannel (psd > 0) at the solved point."""
    used = res.psd_s > 0
    snr = res.psd_s * p.gain_s[res.assign_s, np.arange(p.M)] / p.noise_psd
    se = np.minimum(p.se_attenuation * np.log2(1 + snr), p.max_se)
    return se[used]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    out: dict[str, dict] = {}
    base = None
    for name, kw in RADIOS.items():
        delays, ses = [], []
        for seed in range(args.seeds):
            p = Problem.default(seed=seed, **kw)
            res = solve(p)
            delays.append(res.delay)
            ses.append(spectral_efficiencies(p, res))
        d = np.array(delays)
        se = np.concatenate(ses)
        row = {"median": float(np.median(d)), "mean": float(d.mean()), "delays": d.tolist(),
               "se_median": float(np.median(se)), "se_max": float(se.max()),
               "se_above_7.4": float(np.mean(se > 7.4 + 1e-9))}
        if base is None:
            base = d
        rel = d / base - 1
        row.update(change_median=float(np.median(rel)), change_mean=float(rel.mean()),
                   change_max=float(rel.max()))
        out[name] = row
    print("| radio | T_total median (s) | mean (s) | per-seed change median / mean / max | "
          "used-subchannel SE median / max (bit/s/Hz) | share above 7.4 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in out.items():
        print(f"| {name} | {r['median']:.1f} | {r['mean']:.1f} | "
              f"{100 * r['change_median']:+.0f} % / {100 * r['change_mean']:+.0f} % / "
              f"{100 * r['change_max']:+.0f} % | {r['se_median']:.1f} / {r['se_max']:.1f} | "
              f"{100 * r['se_above_7.4']:.0f} % |")
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
