"""``sfl-opt online``: simulate the online scheduler, sweep V, write the figures, and
(``--train``) train split federated LoRA under each policy's schedule.

:func:`register` adds it to the command line (a command group of
:mod:`sfl_opt.cli.main`); ``python -m sfl_opt.cli online ...`` is the same command.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ValidationError
from ..online.experiment import (
    FIT_MODELS,
    calibration_tasks,
    comparison_tasks,
    differences_table,
    fit_participation,
    markdown_table,
    proxy_config,
    run_all,
    scheduling_problem,
    write_settings_problem,
)
from ..online.experiment import write_report as report
from ..online.learning import (
    default_alpha,
    fit_runs,
    learning_figure,
    train_policies,
    write_settings,
)
from ..online.problem import SERVER_MODES, OnlineProblem
from ..online.simulate import POLICIES, fmt_v, simulate, summarize

#: classes of the proxy's tagging head (len(sfl_opt.harness.ushape.TAGS)); the
#: scheduling scenario's head has as many classes
TRAIN_CLASSES = 9
#: batch and local iterations of the proxy (ProxyConfig's defaults), also scheduled
TRAIN_BATCH, TRAIN_ITERS = 2, 2

DEFAULT_SWEEP = "1e2,1e3,1e4,1e5"
#: defaults of a simulation and of a training run (--train)
SIM_ROUNDS, SIM_V = 2000, 1e4
TRAIN_ROUNDS, TRAIN_V = 200, 3e3
#: OnlineProblem.default's parameters: the help texts show its defaults (budget in J/round)
_DEFAULTS = inspect.signature(OnlineProblem.default).parameters
_BUDGET = _DEFAULTS["energy_budget"].default


def _floats(text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}") from None
    if not vals or any(not np.isfinite(x) or x < 0 for x in vals):
        raise argparse.ArgumentTypeError(f"expected finite numbers >= 0, got {text!r}")
    return vals


def _policies(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in names if x not in POLICIES]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated policies from {', '.join(POLICIES)}, got {text!r}")
    return names


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``online`` subcommand to ``subparsers`` (sets ``func``)."""
    p = subparsers.add_parser(
        "online", help="online device scheduling and bandwidth allocation (split federated "
                       "LoRA, arXiv 2407.02924)",
        description="Simulate split federated LoRA (arXiv 2407.02924) with Lyapunov device "
                    "scheduling and exact bandwidth allocation; compare policies, sweep V, "
                    "or (--train) train a small proxy under each policy's schedule. The "
                    "long-term per-device energy budget is our reading of the paper: its "
                    "abstract does not state the long-term constraint.")
    p.add_argument("--clients", type=int, default=_DEFAULTS["devices"].default,
                   help="number of clients K (default %(default)s)")
    p.add_argument("--seed", type=int, default=_DEFAULTS["seed"].default,
                   help="scenario and channel seed (default %(default)s)")
    p.add_argument("--rounds", type=int, default=None,
                   help=f"rounds T (default {SIM_ROUNDS}; {TRAIN_ROUNDS} with --train)")
    p.add_argument("--V", type=float, default=None,
                   help=f"penalty weight V, J² per loss unit (default {SIM_V:g}; "
                        f"{TRAIN_V:g} with --train)")
    p.add_argument("--policy", default="compare", choices=POLICIES + ("compare",),
                   help="policy to run, or 'compare' for all of them (default)")
    p.add_argument("--server-mode", default=None, choices=SERVER_MODES,
                   help="'shared': the server's FLOP/s are shared by the scheduled devices "
                        "(as in the SflLLM model, the default); 'per_device': one stream "
                        "of server_flops per device")
    p.add_argument("--train", action="store_true",
                   help="train split federated LoRA (PyTorch proxy, extra [harness]) under "
                        "each policy of --policies (the first edition); writes "
                        "online_training.csv/png/pdf")
    p.add_argument("--policies", type=_policies, default=list(POLICIES), metavar="P1,P2,...",
                   help="policies for --train (default: all)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for --train (default %(default)s)")
    p.add_argument("--sweep", type=_floats, default=None, metavar="V1,V2,...",
                   help=f"also run lyapunov for each V (figures default: {DEFAULT_SWEEP})")
    p.add_argument("--budget", type=float, default=None,
                   help="long-term average energy budget of every device, J per round "
                        f"(default {_BUDGET:g}; the budget constraint is our reading of the "
                        "paper)")
    p.add_argument("--energy-guard", action="store_true",
                   help="enforce every device's budget over every horizon: a device is "
                        "only scheduled with an energy within its unspent cumulative "
                        "budget (simulate(..., energy_guard=True))")
    p.add_argument("--experiment", action="store_true",
                   help="the issue-19 learning experiment (extra [harness]): fixed-N "
                        "calibration sweeps (N = 1,2,3,5,10), the fit of Ψ's participation "
                        "term, then lyapunov at each V of --sweep (default "
                        f"{','.join(f'{v:g}' for v in EXP_VS)}) and "
                        "every baseline on the calibrated Ψ; resumes from --runs; writes "
                        "online_participation/online_learning figures, CSVs and settings")
    p.add_argument("--seeds", default="5",
                   help="--experiment seeds: N means 0..N-1, or a list a,b or a range a-b "
                        "(default %(default)s)")
    p.add_argument("--runs", default="results/online_experiment",
                   help="--experiment: folder of the per-run JSON files (resume)")
    p.add_argument("--figures", action="store_true",
                   help="write online_energy/tradeoff/queues figures and CSVs")
    p.add_argument("--out", default="docs/figures", help="figure folder (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run)
    return p


def _row(name: str, tr) -> str:
    s = summarize(tr)
    lead = f"{name:<16}" + ("" if len(name) < 16 else " ")   # never cut the label
    return (lead + f"{s.penalty:>11.3e}{s.weighted_penalty:>11.4f}{s.participation:>8.2f}"
            f"{s.mean_queue:>10.3f}{s.max_budget_ratio:>10.3f}{tr.deadline_violations:>6d}")


_HEADER = (f"{'policy':<16}{'mean Ψ':>11}{'Σ w_t Ψ':>11}{'N_t':>8}{'mean Q':>10}"
           f"{'E/budget':>10}{'late':>6}")


def run(args: argparse.Namespace) -> int:
    """Execute the subcommand; returns the exit status."""
    if args.experiment:
        return _experiment(args)
    kw: dict = {} if args.budget is None else {"energy_budget": args.budget}
    if args.server_mode is not None:
        kw["server_mode"] = args.server_mode
    if args.train:  # the proxy's head, batch and iterations (same payload as 4 x 1)
        kw.update(classes=TRAIN_CLASSES, batch=TRAIN_BATCH, local_iters=TRAIN_ITERS)
    try:
        problem = OnlineProblem.default(seed=args.seed, devices=args.clients, **kw)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.rounds is None:
        args.rounds = TRAIN_ROUNDS if args.train else SIM_ROUNDS
    if args.V is None:
        args.V = TRAIN_V if args.train else SIM_V
    if args.train:
        return _train(problem, args)
    progress = False if args.no_progress else None
    print(f"online scenario: K={problem.K} devices, B={problem.bandwidth / 1e6:g} MHz, "
          f"deadline {problem.deadline:g} s, budget {problem.energy_budget.mean():g} J/round, "
          f"uplink {problem.bits_up / 1e6:.2f} Mbit/round, T={args.rounds} rounds, "
          f"seed {args.seed}" + (", energy guard on" if args.energy_guard else ""))
    print(f"penalty Ψ(N) (loss units): Ψ(0)={problem.psi(0):.3g}, Ψ(1)={problem.psi(1):.3g}, "
          f"Ψ(K)={problem.psi(problem.K):.3g}; E/budget = worst device's time-average "
          "energy over its budget; late = deadline misses")
    try:
        policies = POLICIES if args.policy == "compare" else (args.policy,)
        print(_HEADER)
        runs = {}
        for name in policies:
            tr = simulate(problem, name, args.V, args.rounds, args.seed, progress=progress,
                          energy_guard=args.energy_guard)
            runs[name] = tr
            label = f"{name}" + (f" V={fmt_v(args.V)}" if name == "lyapunov" else "")
            print(_row(label, tr))
        sweep = None
        if args.sweep:
            sweep = []
            print(f"\nV sweep (lyapunov)\n{'V':<16}" + _HEADER[16:])
            for V in args.sweep:
                tr = (runs["lyapunov"] if "lyapunov" in runs and V == args.V else
                      simulate(problem, "lyapunov", V, args.rounds, args.seed,
                               progress=progress, energy_guard=args.energy_guard))
                sweep.append(tr)
                print(_row(fmt_v(V), tr))
        if args.figures:
            from ..online.plots import make_figures

            Vs = args.sweep or _floats(DEFAULT_SWEEP)
            paths = make_figures(problem, Vs, args.rounds, args.seed, args.out,
                                 V_energy=args.V, progress=progress, sweep=sweep,
                                 baselines=runs, lyapunov=runs.get("lyapunov"))
            print("\nwrote " + ", ".join(str(p) for p in paths))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _train(problem: OnlineProblem, args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        print("error: --train needs the [harness] extra (torch, transformers, peft)",
              file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, int(args.threads)))
    print(f"online training: K={problem.K} devices, B={problem.bandwidth / 1e6:g} MHz, "
          f"server {problem.server_mode}, budget {problem.energy_budget.mean():g} J/round "
          f"(our reading), T={args.rounds} rounds, V={fmt_v(args.V)} (lyapunov), seed {args.seed}")
    try:
        runs = train_policies(problem, args.policies, args.V, args.rounds, args.seed,
                              progress=not args.no_progress)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'policy':<14}{'val loss':>10}{'accuracy':>10}{'energy J':>11}{'E/budget':>10}"
          f"{'N_t':>7}{'Σ w_t Ψ':>10}")
    for name, r in runs.items():
        tr = r.trace
        print(f"{name:<14}{r.val_loss[-1]:>10.4f}{r.accuracy[-1]:>10.4f}{r.energy[-1]:>11.2f}"
              f"{r.budget_ratio[-1]:>10.3f}{tr.participation.mean():>7.2f}"
              f"{tr.weighted_penalty:>10.4f}")
    paths = learning_figure(runs, args.out)
    fit = fit_runs(runs, problem.K)
    alpha0 = default_alpha(problem)
    print(f"\nΨ fitted to the loss curves (loss_(t+1) = ρ·loss_t + γ + α/N_t, "
          f"{fit.rows} transitions): ρ = {fit.rho:.5f} (horizon 1/(1−ρ) = "
          f"{fit.horizon:.1f} rounds), α = {fit.alpha:.4g}, γ = {fit.gamma:.4g}, "
          f"floor = {fit.floor:.4f}; residuals rms {fit.residual_rms:.3g}, "
          f"max {fit.residual_max:.3g}; R² of the decrease {fit.r2:.3f}")
    print(f"default constants: ρ = {problem.contraction:.5f}, α = {alpha0:.4g} "
          f"(V·α sets the trade-off: V = {fmt_v(args.V)} with the default Ψ ≈ "
          f"V = {args.V * alpha0 / fit.alpha:.3g} with the fitted Ψ)")
    command = ("sfl-opt online --train --policies " + ",".join(args.policies)
               + f" --clients {args.clients} --seed {args.seed} --rounds {args.rounds}"
               + f" --V {fmt_v(args.V)} --server-mode {problem.server_mode}"
               + f" --threads {args.threads} --out {args.out}")
    paths.append(write_settings(Path(args.out) / "online_training_settings.json",
                                problem, runs, args.V, args.seed, command))
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


def _seed_list(text: str) -> list[int]:
    text = str(text).strip()
    try:
        if "," in text:
            return [int(x) for x in text.split(",") if x.strip()]
        if "-" in text:
            a, b = (int(x) for x in text.split("-"))
            return list(range(a, b + 1))
        return list(range(int(text)))
    except ValueError:
        raise ValueError(f"seeds: expected N, a,b,... or a-b, got {text!r}") from None


#: --experiment: rounds, evaluation interval, V values and baseline participants
EXP_ROUNDS, EXP_EVAL, EXP_VS, EXP_COUNT = 80, 10, (1.0, 10.0, 100.0), 4
#: --experiment: the terms of Ψ fitted and used by the scheduler (fit_participation)
EXP_FIT = "both"


def _experiment(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        print("error: --experiment needs the [harness] extra (torch, transformers, peft)",
              file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, int(args.threads)))
    try:
        seeds = _seed_list(args.seeds)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    T = EXP_ROUNDS if args.rounds is None else int(args.rounds)
    if T < 1:
        raise ValidationError("rounds", "at least 1 round for --experiment", T)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValidationError("seeds", "at least 2 distinct seeds >= 0 for --experiment "
                              "(the CIs are over seeds)", args.seeds)
    every = EXP_EVAL if T >= 4 * EXP_EVAL else max(1, T // 4)
    Vs = tuple(args.sweep) if args.sweep else EXP_VS
    progress = not args.no_progress
    calib = run_all(calibration_tasks(seeds, T, every), args.runs, progress)
    fits = {m: fit_participation(calib, model=m) for m in FIT_MODELS}
    fit = fits[EXP_FIT]
    for m, f in fits.items():
        print(f"participation fit ({m}): α = {f['alpha']:.4g} "
              f"[95 % CI {f['alpha_ci95'][0]:.4g}, {f['alpha_ci95'][1]:.4g}], "
              f"β = {f['beta']:.4g} [{f['beta_ci95'][0]:.4g}, {f['beta_ci95'][1]:.4g}] "
              f"per round, ρ = {f['rho']:.4f}")
    print(f"final loss = {fit['final_c']:.4f} + {fit['final_a']:.4f}/N "
          f"[a: {fit['final_a_ci95'][0]:.4f}, {fit['final_a_ci95'][1]:.4f}]; "
          "paired vs the largest N: " + ", ".join(
              f"N={n}: {d[0]:+.3f} ± {d[1]:.3f}" for n, d in fit["paired_vs_largest_N"].items()))
    comp = run_all(comparison_tasks(seeds, T, every, fit["alpha"], Vs, EXP_COUNT,
                                    beta=fit["beta"]), args.runs, progress)
    cfg = proxy_config(seeds[0])
    command = (f"sfl-opt online --experiment --seeds {args.seeds} --rounds {T} --sweep "
               + ",".join(fmt_v(x) for x in Vs) + f" --runs {args.runs} --out {args.out}")
    settings = {"rounds": T, "eval_every": every, "V": list(Vs), "count": EXP_COUNT,
                "seeds": seeds, "proxy": write_settings_problem(cfg),
                "energy_guard": "lyapunov and the '+guard' baselines: "
                                "simulate(..., energy_guard=True)",
                "participation_fits": fits,
                "problem_seed0": scheduling_problem(seeds[0], cfg, alpha=fit["alpha"],
                                                    beta=fit["beta"]).to_dict()}
    paths, stats = report(calib, comp, fit, args.out, command, settings)
    print(markdown_table(stats))
    print("\nlyapunov − baseline at equal energy "
          f"({stats['E_common']:.1f} J; paired, mean ± 95 % CI):")
    print(differences_table(stats, "at_E_common"))
    print("\nlyapunov − baseline at the final round (paired):")
    print(differences_table(stats, "final"))
    print("\nwrote " + ", ".join(str(Path(p)) for p in paths))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``sfl-opt online [options]`` command on its own (``main(["--clients", "5"])``);
    from the shell use ``sfl-opt online``."""
    parser = argparse.ArgumentParser(prog="sfl-opt")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["online", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
