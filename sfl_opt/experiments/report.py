"""Readable reports: a solution (text), the comparison with the baselines (text and
Markdown). Used by the CLI; the numbers come from :mod:`sfl_opt.experiments.analysis`."""

from __future__ import annotations

import math

import numpy as np

from ..engine.result import SolveResult
from ..model.problem import Problem
from .analysis import REFERENCE, compare_rows, method_label
from .sweep import SweepTable


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds:,.1f} s ({seconds / 3600:.2f} h)"
    return f"{seconds:,.3f} s"


def rounds_note(problem: Problem) -> str:
    """How the rounds table was obtained, flagged when it is illustrative."""
    if problem.rounds_source == "illustrative":
        return "illustrative table (not measured; see docs/model.md)"
    return problem.rounds_source


def gap_text(gap: float) -> str:
    """The gap as printed: rounded *up* (to 0.01 % above 1e-4, else to three digits), so
    a gap that does not certify ``optimal`` (> GAP_TOL = 1e-6) never prints as 1e-6."""
    if gap <= 0:
        return "0.00%"
    if gap >= 1e-4:
        return f"{math.ceil(gap * 1e4 - 1e-9) / 1e4:.2%}"
    exp = math.floor(math.log10(gap))
    mant = math.ceil(gap / 10.0**exp * 100 - 1e-9) / 100
    if mant >= 10.0:
        mant, exp = mant / 10.0, exp + 1
    return f"{mant:.2f}e{exp:+03d}"


def format_report(problem: Problem, res: SolveResult, show_bound: bool = True) -> str:
    """A multi-line report: choice, status, per-client rates and delays, breakdown
    (``show_bound=False``: no lower-bound / gap line, as ``solve --bound none`` asks).

    With candidate local iterations, the problem at the chosen I is reported and one
    line lists the delay of every candidate."""
    bd = res.breakdown
    lines = []
    chosen = ""
    if problem.chooses_local_iters and res.local_iters is not None:
        per = res.info.get("local_iters", {})
        parts = [f"I={i}: " + ("pruned" if d.get("pruned") else _duration(d["delay"]))
                 for i, d in per.items()]
        chosen = (f"local iterations: I = {res.local_iters} chosen among "
                  f"{list(problem.local_iters_candidates)} ({'; '.join(parts)})")
        problem = problem.at_local_iters(res.local_iters)
    lines.append(f"sfl-opt solution — method {res.method}, power backend {res.power}"
                 + (f", mode {res.mode}" if res.mode else ""))
    lines.append(f"scenario: K={problem.K} clients, M={problem.M} s-link / N={problem.N} f-link "
                 f"subchannels, L={problem.L} blocks, batch {problem.batch}, "
                 f"I={problem.local_iters} local iterations")
    if problem.gain_d is None:
        lines.append("downlink: fixed rates rate_down (the paper's model)")
    else:
        lines.append(f"downlink: allocated, D={problem.D} subchannels, base station "
                     f"{problem.p_total_d:g} W")
    if problem.band == "shared":
        lines.append(f"band: shared pool of {problem.M} subchannels (s-link during the "
                     "iterations, f-link during the adapter upload)")
    lines.append(f"rounds(r): {rounds_note(problem)}")
    if chosen:
        lines.append(chosen)
    lines.append("")
    ms = res.timings.get("total", 0.0) * 1e3
    term = res.termination
    stopped = str(term.reason) + (f", {term.limit} limit" if term.by_limit else "")
    lines.append(f"status: {res.status} (termination: {stopped}), "
                 f"{res.iterations} iteration(s), solve time {ms:.1f} ms")
    if res.lower_bound is not None and show_bound:
        lines.append(f"lower bound: {_duration(res.lower_bound)}, optimality gap "
                     f"{gap_text(res.gap or 0.0)}")
    per_client = np.ndim(res.split) == 1
    if per_client:
        lines.append(f"split points (one per client): l_k = {np.asarray(res.split).tolist()} "
                     "(client k runs the embedding and blocks 1..l_k; the main server the "
                     f"rest of its batch up to block {problem.L} and the head); the common "
                     f"split's delay was {_duration(res.info.get('common_delay', res.delay))}")
    else:
        lines.append(f"split point: l = {res.split} (clients run the embedding and blocks "
                     f"1..{res.split}; the main server blocks {res.split + 1}..{problem.L} "
                     "and the head)")
    lines.append(f"LoRA rank: r = {res.rank}, rounds(r) = {bd.rounds:g} "
                 f"({bd.rounds * problem.local_iters:,.0f} local iterations)")
    if problem.workload.has_memory:
        needs = problem.memory_need(res.split, res.rank)
        cap = float(problem.client_memory.min())
        cap_txt = "unlimited" if np.isinf(cap) else f"smallest cap {cap / 1e9:.3f} GB"
        need_txt = (f"{needs.min() / 1e9:.3f}..{needs.max() / 1e9:.3f} GB per client, each "
                    "within its own cap" if per_client else
                    f"{float(needs[0]) / 1e9:.3f} GB per client")
        lines.append(f"client memory: {need_txt} ({cap_txt}); "
                     f"candidate splits {problem.splits.min()}..{problem.splits.max()}")
    lines.append(f"total training delay T_total = {_duration(res.delay)}")
    lines.append("")
    cnt_s = np.bincount(res.assign_s, minlength=problem.K)
    cnt_f = np.bincount(res.assign_f, minlength=problem.K)
    alloc = res.assign_d is not None and bd.rate_d is not None and bd.power_d is not None
    hdr = (f"{'client':>6} {'subch s':>7} {'P_s [W]':>8} {'R_s [Mb/s]':>10} {'TcF [s]':>8} "
           f"{'up [s]':>8} {'down [s]':>8} {'TcB [s]':>8} {'subch f':>7} {'R_f [Mb/s]':>10} "
           f"{'fed [s]':>8}")
    if alloc:
        hdr += f" {'subch d':>7} {'P_d [W]':>8} {'R_d [Mb/s]':>10}"
        cnt_d = np.bincount(res.assign_d, minlength=problem.K)
    if per_client:
        hdr += f" {'cut':>5}"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for k in range(problem.K):
        row = (f"{k:>6} {cnt_s[k]:>7} {bd.power_s[k]:>8.4f} {bd.rate_s[k] / 1e6:>10.3f} "
               f"{bd.client_fwd[k]:>8.4f} {bd.uplink[k]:>8.4f} {bd.downlink[k]:>8.4f} "
               f"{bd.client_bwd[k]:>8.4f} {cnt_f[k]:>7} {bd.rate_f[k] / 1e6:>10.3f} "
               f"{bd.fed_upload[k]:>8.4f}")
        if alloc:
            row += (f" {cnt_d[k]:>7} {bd.power_d[k]:>8.4f} "  # type: ignore[index]
                    f"{bd.rate_d[k] / 1e6:>10.3f}")  # type: ignore[index]
        if per_client:
            row += f" {int(res.split[k]):>5}"
        lines.append(row)
    lines.append("")
    lines.append("delay breakdown (s):")
    lines.append(f"  per iteration T_iter = {bd.t_iter:.4f} = client fwd + uplink "
                 f"{bd.t_up_stage:.4f} + server {bd.server:.4f} + downlink + client bwd "
                 f"{bd.t_down_stage:.4f}")
    lines.append(f"  per round T_round = I*T_iter {problem.local_iters * bd.t_iter:.4f} + "
                 f"adapter upload {bd.t_fed:.4f} + broadcast {bd.broadcast:.4f} = {bd.t_round:.4f}")
    lines.append(f"  total = rounds {bd.rounds:g} x T_round = {bd.total:.1f}")
    shares = bd.stage_shares
    lines.append("  share of T_total: client fwd + uplink "
                 f"{shares['client_fwd_uplink']:.1%}, server {shares['server']:.1%}, "
                 f"downlink + client bwd {shares['downlink_client_bwd']:.1%}, adapter upload "
                 f"{shares['adapter_upload']:.1%}")
    power = (f"  power used: s-link {bd.power_s.sum():.4f} W of {problem.p_total_s:g} W, "
             f"f-link {bd.power_f.sum():.4f} W of {problem.p_total_f:g} W")
    if bd.power_d is not None:
        power += f", downlink {bd.power_d.sum():.4f} W of {problem.p_total_d:g} W"
    lines.append(power)
    lines.extend(["", *format_energy(problem, res)])
    return "\n".join(lines)


def format_energy(problem: Problem, res: SolveResult) -> list[str]:
    """The energy section of :func:`format_report`: per client and per stage, J per
    training run (:mod:`sfl_opt.model.energy`)."""
    e = res.energy
    budget = problem.client_energy
    has = bool(np.isfinite(budget).any())
    lines = [f"energy per training run (J; {e.rounds:g} rounds): total {e.total:,.1f} = "
             f"clients {e.per_client.sum():,.1f} + server {e.server:,.1f} + base station "
             f"{e.base_station:,.1f}"]
    hdr = (f"{'client':>6} {'compute':>10} {'uplink':>10} {'adapter':>10} {'total':>10}"
           + (f" {'budget':>10}" if has else ""))
    lines += [hdr, "-" * len(hdr)]
    for k in range(problem.K):
        row = (f"{k:>6} {e.client_compute[k]:>10.4g} {e.client_uplink[k]:>10.4g} "
               f"{e.client_adapter[k]:>10.4g} {e.per_client[k]:>10.4g}")
        if has:
            row += f" {budget[k]:>10.4g}"
        lines.append(row)
    st = e.per_stage
    lines.append("  by stage: " + ", ".join(f"{k.replace('_', ' ')} {v:,.4g}"
                                            for k, v in st.items()))
    lines.append(f"  assumptions: compute power {problem.compute_power.min():g}.."
                 f"{problem.compute_power.max():g} W per client, server {problem.server_power:g}"
                 f" W, base station {problem.bs_power:g} W; no receive or idle power")
    return lines


def format_compare(table: SweepTable, reference: str = REFERENCE,
                   scenario: Problem | None = None) -> str:
    """The comparison as a text table: delay mean ± std and the reference's reduction.

    ``scenario``: one problem of the compared scenarios (its rounds source is printed;
    default: the bundled default scenario)."""
    rows = compare_rows(table, reference)
    n = rows[0]["n"] if rows else 0
    scenario = Problem.default(0) if scenario is None else scenario
    lines = [f"{reference} vs the baselines: default scenario, {n} seeds (scenario seed = "
             f"method seed); rounds(r): {rounds_note(scenario)}",
             "",
             f"{'method':<20} {'T_total mean ± std [s]':>24} "
             f"{'reduction by ' + reference + ' (mean ± std)':>32} {'seeds worse':>12}",
             "-" * 91]
    for r in rows:
        delay = f"{r['mean']:10,.1f} ± {r['std']:9,.1f}"
        if r["red_mean"] is None:
            red, worse = "—", ""
        else:
            red = f"{100 * r['red_mean']:6.1f}% ± {100 * r['red_std']:4.1f}%"
            worse = f"{r['worse']}/{r['n']}"
        lines.append(f"{r['method']:<20} {delay:>24} {red:>32} {worse:>12}")
    return "\n".join(lines)


def markdown_compare(table: SweepTable, reference: str = REFERENCE) -> str:
    """The comparison as a Markdown table (for the README)."""
    rows = compare_rows(table, reference)
    lines = ["| method | T_total (s), mean ± std | reduction by SflLLM, mean ± std |",
             "|---|---:|---:|"]
    for r in rows:
        red = "—" if r["red_mean"] is None else \
            f"{100 * r['red_mean']:.1f} % ± {100 * r['red_std']:.1f} %"
        lines.append(f"| {method_label(r['method'])} (`{r['method']}`) | "
                     f"{r['mean']:,.1f} ± {r['std']:,.1f} | {red} |")
    return "\n".join(lines)
