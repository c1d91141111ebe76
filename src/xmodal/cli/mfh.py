"""``xmodal mfh ...``: the Modality Focusing Hypothesis toolkit (docs/methods/mfh.md).

``gaussian`` runs the MVD benchmark (Fig. 2, Fig. 3, Table 2), ``rank`` Algorithm 1, ``nullify`` the r sweep of
modality-general/-specific/random teachers, ``diagnose`` the KD-efficacy diagnostic (Gaussian, ``--av`` for the
synthetic audio-visual benchmark, or user arrays), ``bound`` Theorem 1.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from xmodal.cli._common import UsageError, add_group, print_table, write_json


def _pm(stat: dict[str, float]) -> str:
    return f"{stat['mean']:.2f} ± {stat['std']:.2f}"


def _all_or_none(args: argparse.Namespace, names: tuple[str, ...]) -> bool:
    """True when every array flag in ``names`` is given, False when none is; a partial set is a usage error."""
    given = [n for n in names if getattr(args, n.replace("-", "_"))]
    if given and len(given) != len(names):
        missing = [f"--{n}" for n in names if n not in given]
        raise UsageError(f"{', '.join(missing)} missing: user arrays need all of {', '.join('--' + n for n in names)}")
    return bool(given)


def _linear_cfg(args: argparse.Namespace) -> Any:
    from xmodal.analysis.mfh.linear import LinearTrainConfig

    return LinearTrainConfig(epochs=args.epochs, lr=args.lr, kd_weights=(args.w_ce, args.w_kd),
                             temperature=args.temperature, kl_reduction=args.kl_reduction)


def _gaussian(args: argparse.Namespace) -> int:
    from xmodal.analysis.mfh import gaussian
    from xmodal.analysis.mfh.plot import plot_sweep

    cfg, start = _linear_cfg(args), time.perf_counter()
    if args.experiment == "table2":
        rows = gaussian.table2_experiment(args.runs, args.seed, cfg, rows=args.table2_rows, delta=args.delta,
                                          official_swap=args.official_swap)
        keys = ["regular_teacher", "general_teacher", "no_kd", "regular_kd", "general_kd", "general_minus_regular_kd"]
        print_table("MFH Table 2 (accuracy %, mean ± std)",
                     ["γ", "reg. T", "gen. T (γ=1)", "no KD", "reg. KD", "gen. KD", "gen.−reg. KD"],
                     [[f"{r['gamma']:.2f}", *[_pm(r[k]) for k in keys]] for r in rows])
    else:
        x_key = "gamma" if args.experiment == "gamma" else "alpha"
        rows = (gaussian.gamma_experiment(args.runs, args.seed, cfg) if args.experiment == "gamma"
                else gaussian.alpha_experiment(args.runs, args.seed, cfg, args.alpha_d))
        print_table(f"MFH {'Fig. 2' if x_key == 'gamma' else 'Fig. 3'} (accuracy %, mean ± std)",
                     ["γ", "α", "teacher", "no KD", "KD", "KD gain"],
                     [[f"{r['gamma']:.2f}", f"{r['alpha']:.2f}", _pm(r["teacher"]), _pm(r["no_kd"]), _pm(r["kd"]),
                       _pm(r["gain"])] for r in rows])
        if args.png:
            plot_sweep(rows, x_key, args.png, f"MVD Gaussian, {x_key} sweep ({args.runs} runs)")
    seconds = time.perf_counter() - start
    print(f"runtime: {seconds:.1f} s")
    write_json(args.json, {"experiment": args.experiment, "runs": args.runs, "seed": args.seed,
                           "config": vars(cfg), "seconds": seconds, "rows": rows})
    return 0


def _rank(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from xmodal.analysis.mfh.gaussian import sample_runs, table2_spec
    from xmodal.analysis.mfh.ranking import RankConfig, rank_linear, recall_at_k

    cfg = RankConfig(repeats=args.repeats, epochs=args.epochs, normalize=args.normalize)
    start = time.perf_counter()
    if _all_or_none(args, ("features-a", "features-b", "labels")):
        xa, xb = (torch.from_numpy(np.load(p)).float() for p in (args.features_a, args.features_b))
        y = torch.from_numpy(np.load(args.labels)).long()
        sal = rank_linear(xa, xb, y, int(y.max()) + 1, cfg, args.seed)
        out: dict[str, Any] = {"salience": sal.tolist(), "order": np.argsort(-sal).tolist()}
        print("most modality-general channels:", np.argsort(-sal)[:10].tolist())
    else:
        spec = table2_spec(args.specific, args.shared)
        (xa, xb, y), = sample_runs(spec, (200,), args.runs, args.seed)
        sal = [rank_linear(xa[r], xb[r], y[r], 2, cfg, args.seed + r) for r in range(args.runs)]
        rec = [recall_at_k(s, spec.shared) for s in sal]
        print(f"recall@{len(spec.shared)} of planted shared channels: {np.mean(rec):.3f} ± {np.std(rec):.3f}")
        out = {"recall": rec, "salience": [s.tolist() for s in sal], "shared": list(spec.shared)}
    out["seconds"] = time.perf_counter() - start
    print(f"runtime: {out['seconds']:.1f} s")
    write_json(args.json, out)
    return 0


def _nullify(args: argparse.Namespace) -> int:
    from xmodal.analysis.mfh.ranking import RankConfig
    from xmodal.analysis.mfh.teachers import r_sweep_gaussian

    start = time.perf_counter()
    rows = r_sweep_gaussian(args.runs, args.seed, tuple(args.ratios), args.specific, args.shared, args.mode,
                            rank_cfg=RankConfig(repeats=args.repeats))
    print_table("Teachers by nullification (accuracy %, ρ = 0)", ["r", "kind", "teacher", "student", "shared kept"],
                 [[f"{r['ratio']:.2f}", r["kind"], _pm(r["teacher"]), _pm(r["student"]), f"{r['shared_kept']:.2f}"]
                  for r in rows])
    seconds = time.perf_counter() - start
    print(f"runtime: {seconds:.1f} s")
    write_json(args.json, {"seconds": seconds, "rows": rows})
    return 0


def _diagnose_av(args: argparse.Namespace) -> dict[str, Any]:
    """The diagnostic on the synthetic audio-visual benchmark across its γ knob (docs/methods/mfh.md)."""
    import tempfile

    from xmodal.analysis.mfh.av_benchmark import AVBenchConfig, av_diagnostic, config_dict

    cfg = AVBenchConfig(gammas=tuple(args.gammas), clips=args.clips, seeds=args.seeds, seed=args.seed,
                        epochs=args.epochs, threshold=args.threshold, workers=args.workers)
    if args.data_dir:
        rows = av_diagnostic(cfg, args.data_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="xmodal-mfh-av-") as tmp:
            rows = av_diagnostic(cfg, tmp)
    print_table(f"KD-efficacy diagnostic on the synthetic AV benchmark ({cfg.seeds} seeds, test accuracy %)",
                 ["levels g,v,a", "true γ", "γ̂", "r_a", "r_b", "teacher", "no KD", "KD", "KD gain", "predicted",
                  "actual"],
                 [[",".join(map(str, r["levels"])), f"{r['gamma']:.2f}", _pm(r["gamma_hat"]), _pm(r["r_a"]),
                   _pm(r["r_b"]), _pm(r["teacher_acc"]), _pm(r["no_kd_acc"]), _pm(r["kd_acc"]), _pm(r["kd_gain"]),
                   "helps" if r["predicted_helps"] else "hurts", r["actual"]] for r in rows])
    return {"benchmark": "synthetic-av", "config": config_dict(cfg), "rows": rows}


def _diagnose(args: argparse.Namespace) -> int:
    import numpy as np

    from xmodal.analysis.mfh.diagnostic import diagnose, gaussian_diagnostic

    start = time.perf_counter()
    if args.av:
        payload: dict[str, Any] = _diagnose_av(args)
    elif _all_or_none(args, ("features-a", "features-b", "logits-a", "logits-b")):
        fa, fb, za, zb = (np.load(p) for p in (args.features_a, args.features_b, args.logits_a, args.logits_b))
        d = diagnose(fa, fb, za, zb, args.threshold)
        print(f"r_a = {d.r_a:.3f}, r_b = {d.r_b:.3f}, γ̂ = {d.gamma_hat:.3f} → crossmodal KD "
              f"{'is predicted to help' if d.kd_predicted_to_help else 'is not predicted to help'}")
        payload = {"r_a": d.r_a, "r_b": d.r_b, "gamma_hat": d.gamma_hat, "helps": d.kd_predicted_to_help}
    else:
        rows = gaussian_diagnostic(args.runs, args.seed, threshold=args.threshold)
        print_table("KD-efficacy diagnostic on the MVD Gaussian benchmark",
                     ["setting", "true γ", "γ̂", "r_a", "r_b", "KD gain", "predicted", "actual"],
                     [[r["setting"], f"{r['gamma']:.2f}", _pm(r["gamma_hat"]), f"{r['r_a']:.2f}", f"{r['r_b']:.2f}",
                       _pm(r["kd_gain"]), "helps" if r["predicted_helps"] else "hurts",
                       "helps" if r["helps"] else "hurts"] for r in rows])
        payload = {"rows": rows}
    payload["seconds"] = time.perf_counter() - start
    print(f"runtime: {payload['seconds']:.1f} s")
    write_json(args.json, payload)
    return 0


def _bound(args: argparse.Namespace) -> int:
    import numpy as np

    from xmodal.analysis.mfh.bound import plot_bound, theorem1_bound

    gammas = np.linspace(0, 1, 11)
    rows = {f"{eps:g}": theorem1_bound(gammas, eps, args.lam, args.n).tolist() for eps in args.eps}
    print_table(f"Theorem 1 bound (λ = {args.lam:g}, n = {args.n})", ["γ", *[f"ε={k}" for k in rows]],
                 [[f"{g:.1f}", *[f"{rows[k][i]:.4f}" for k in rows]] for i, g in enumerate(gammas)])
    if args.png:
        plot_bound(args.png, tuple(args.eps), args.lam, args.n)
    write_json(args.json, {"gamma": gammas.tolist(), "bound": rows, "lam": args.lam, "n": args.n})
    return 0


def _common(p: argparse.ArgumentParser, runs: int = 10) -> None:
    p.add_argument("--runs", type=int, default=runs, help="independent runs (fresh data and weights); mean ± std")
    p.add_argument("--seed", type=int, default=0, help="seed of the first run (run r uses seed + r)")
    p.add_argument("--json", default=None, help="write results as JSON (default: not written)")


def register(sub: argparse._SubParsersAction) -> None:
    inner = add_group(sub, "mfh", "Modality Focusing Hypothesis toolkit (MVD benchmark, Algorithm 1, diagnostic)")
    p = inner.add_parser("gaussian", help="MVD Gaussian benchmark: Fig. 2 (gamma), Fig. 3 (alpha), Table 2")
    p.add_argument("--experiment", choices=["gamma", "alpha", "table2"], required=True,
                   help="gamma sweep (Fig. 2), alpha sweep (Fig. 3) or Table 2")
    _common(p)
    p.add_argument("--png", default=None, help="save accuracy vs γ/α with ±1 std bands (default: no figure)")
    p.add_argument("--epochs", type=int, default=1000, help="full-batch epochs of every linear model")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate of every linear model")
    p.add_argument("--w-ce", type=float, default=1.0, help="CE weight (official code: 1)")
    p.add_argument("--w-kd", type=float, default=1.0, help="KD weight (official code: 1)")
    p.add_argument("--temperature", type=float, default=1.0, help="KD softmax temperature")
    p.add_argument("--kl-reduction", choices=["mean", "batchmean"], default="mean",
                   help="'mean' = official KLDivLoss() element-wise mean")
    p.add_argument("--alpha-d", choices=["code", "text"], default="code", help="x* dimension in the α sweep")
    p.add_argument("--table2-rows", choices=["s10", "d20"], default="s10",
                   help="Table 2 feature layout: 10 specific channels (s10) or 20-dim (d20)")
    p.add_argument("--delta", choices=["ones", "normal"], default="ones", help="Table 2 hyperplane δ")
    p.add_argument("--official-swap", action="store_true", help="reproduce the official regular-KD argument swap")
    p.set_defaults(func=_gaussian)

    p = inner.add_parser("rank", help="Algorithm 1: modality-general decisive feature ranking")
    _common(p, runs=5)
    p.add_argument("--specific", type=int, default=10, help="modality-specific channels of the Gaussian data")
    p.add_argument("--shared", type=int, default=10, help="modality-general (shared) channels of the Gaussian data")
    p.add_argument("--repeats", type=int, default=100, help="M permutations per channel")
    p.add_argument("--epochs", type=int, default=1000, help="epochs of the linear models")
    p.add_argument("--normalize", choices=["max", "minmax"], default="max", help="salience normalization")
    p.add_argument("--features-a", default=None, help=".npy (n, d1) features of modality a (teacher side) "
                   "(default: the Gaussian benchmark)")
    p.add_argument("--features-b", default=None, help=".npy (n, d2) features of modality b (with --features-a)")
    p.add_argument("--labels", default=None, help=".npy (n,) integer labels (with --features-a)")
    p.set_defaults(func=_rank)

    p = inner.add_parser("nullify", help="modality-general/-specific/random teachers by nullification, r sweep")
    _common(p)
    p.add_argument("--ratios", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 0.9],
                   help="fractions r of teacher channels nullified")
    p.add_argument("--specific", type=int, default=10, help="modality-specific channels of the Gaussian data")
    p.add_argument("--shared", type=int, default=10, help="modality-general (shared) channels of the Gaussian data")
    p.add_argument("--mode", choices=["mean", "zero"], default="mean", help="replace nullified channels by their "
                   "training mean or by zero")
    p.add_argument("--repeats", type=int, default=20, help="M permutations per channel of the ranking")
    p.set_defaults(func=_nullify)

    p = inner.add_parser("diagnose", help="KD-efficacy diagnostic (estimated vs true γ, predicted vs measured gain)")
    _common(p)
    p.add_argument("--threshold", type=float, default=0.075, help="γ̂ above which crossmodal KD is predicted to help")
    for name in ("features-a", "features-b", "logits-a", "logits-b"):
        p.add_argument(f"--{name}", default=None, help=f".npy held-out paired {name.replace('-', ' ')} (all four "
                       "together; default: the Gaussian benchmark)")
    p.add_argument("--av", action="store_true",
                   help="run on the synthetic audio-visual benchmark: audio teacher, video student, across γ")
    p.add_argument("--gammas", type=float, nargs="+", default=[0.0, 1.0 / 3.0, 0.5, 1.0],
                   help="--av: target γ values (mapped to the nearest general/video/audio levels)")
    p.add_argument("--clips", type=int, default=480, help="--av: clips per γ setting")
    p.add_argument("--seeds", type=int, default=3, help="--av: training seeds per setting")
    p.add_argument("--epochs", type=int, default=25, help="--av: epochs of every network")
    p.add_argument("--workers", type=int, default=1, help="--av: generator processes")
    p.add_argument("--data-dir", default=None, help="--av: keep the generated benchmarks here (default: temp dir)")
    p.set_defaults(func=_diagnose)

    p = inner.add_parser("bound", help="Theorem 1's bound versus γ")
    p.add_argument("--eps", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0], help="ε values, one column each")
    p.add_argument("--lam", type=float, default=1.0, help="λ of Theorem 1")
    p.add_argument("--n", type=int, default=1, help="n of Theorem 1")
    p.add_argument("--png", default=None, help="save the bound versus γ (default: no figure)")
    p.add_argument("--json", default=None, help="write the table as JSON (default: not written)")
    p.set_defaults(func=_bound)
