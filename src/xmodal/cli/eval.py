"""``xmodal eval {svm,linear,knn,fusion,retrieval,finetune}``: evaluation protocols with a protocol card.

Frozen-feature verbs read precomputed ``.npz``/``.safetensors`` files (``features``, ``labels``, ``ids``, ``split``
[, ``fold``]); several files are several splits (UCF101/HMDB51 splits 1–3) and are averaged. Or they extract
features from a backbone export on a manifest (``--backbone FILE --data MANIFEST``, or ``--root DIR --dataset
NAME`` for every official split/fold; see :mod:`xmodal.cli._eval_inputs`). ``finetune`` trains end to end
(:mod:`xmodal.eval.finetune_run`). Every verb writes ``{"protocol", "metric", "mean", "std", "per_split",
"runtime_s"}`` with ``--json``, and prints each split's number when there are several. Heavy imports stay inside.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from xmodal.cli._common import add_group
from xmodal.cli._eval_finetune import add_finetune_args, run_finetune
from xmodal.cli._eval_inputs import add_extraction_args, clips, feature_inputs, pair_inputs, report_result


def _common(p: argparse.ArgumentParser, features: bool = True) -> None:
    if features:
        p.add_argument("--features", nargs="+", metavar="FILE", help="precomputed features, one file per split")
    add_extraction_args(p, pair=not features)
    p.add_argument("--json", metavar="OUT", help="write the result + protocol card as JSON")
    p.add_argument("--png", metavar="DIR", help="write a PCA scatter and a confusion matrix (first split)")
    p.add_argument("--dataset", default="", help="dataset name recorded in the card (with --root: its adapter)")
    p.add_argument("--split-files", nargs="*", default=[], help="official split files recorded in the card")
    p.add_argument("--checkpoint", default="", help="backbone file the features came from (sha256 in the card)")
    p.add_argument("--modality", default="video", choices=["video", "audio", "audio+video"],
                   help="modality of the features (card); with --backbone: which encoder input to build")
    p.add_argument("--pooling", default="mean of patch tokens", help="how the producer pooled tokens (card)")
    p.add_argument("--cls", action="store_true", help="CLS token instead of the patch-token mean (card; extraction)")
    p.add_argument("--train-clips", type=int, help="clips averaged per training video (precomputed: card only, "
                                                   "default 1; --backbone: extracted, default 25)")
    p.add_argument("--test-clips", type=int, help="uniformly spaced clips averaged per val/test video "
                                                  "(precomputed: card only, default 1; --backbone: default 3)")
    p.add_argument("--device", default="cpu", help="torch device for extraction and the classifier, e.g. cuda")
    p.add_argument("--map-empty-classes", choices=["zero", "drop"], default="zero",
                   help="multi-label mAP: a class without test positives scores 0 (sklearn, AudioMAE) or is dropped "
                        "(XKD's code)")


def _clip_rows(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--clip-rows", action="store_true",
                   help=f"every clip its own row ({what} averaged per video); extraction keeps clips unaveraged")


def register(sub: argparse._SubParsersAction) -> None:
    inner = add_group(sub, "eval", "evaluation protocols: SVM, linear probe, k-NN, fusion, retrieval, fine-tuning")
    p = inner.add_parser("svm", help="linear SVM, C chosen on val or by CV on train (never on test)")
    _common(p)
    p.add_argument("--costs", nargs="+", type=float, default=[1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
                   help="grid of SVM costs C")
    p.add_argument("--selection", choices=["auto", "val", "cv"], default="auto",
                   help="how C is chosen: the val split, k-fold CV on train, or auto (val if present, else CV)")
    p.add_argument("--cv-folds", type=int, default=5, help="folds of the CV selection")
    p.add_argument("--folds", action="store_true", help="leave-one-fold-out over the file's 'fold' array (ESC-50)")
    p.add_argument("--backend", choices=["torch", "sklearn"], default="torch",
                   help="SVM solver: batched torch (GPU-capable) or scikit-learn LinearSVC")
    p.add_argument("--seed", type=int, default=0, help="seed of the CV folds and the torch solver")
    p.add_argument("--protocol", choices=["ours", "official"], default="ours",
                   help="official = XKD's code: every (augmented, --augment) clip its own row, decision scores "
                        "averaged over a video's test clips, no L2 normalization; ours: clip features averaged per "
                        "video, L2-normalized")
    p.add_argument("--extend-grid", type=int, default=3,
                   help="decades the C grid may grow by when the chosen C sits on its edge")
    _clip_rows(p, "decision scores")
    p.set_defaults(func=run_svm)
    p = inner.add_parser("linear", help="linear (FC) probe on frozen features")
    _common(p)
    p.add_argument("--preset", choices=["fsd50k", "kinetics400"],
                   help="XKD §A.5 probe settings (default: the generic probe config)")
    for name, typ in (("epochs", int), ("batch-size", int), ("lr", float), ("weight-decay", float),
                      ("dropout", float)):
        p.add_argument(f"--{name}", type=typ, help=f"probe {name.replace('-', ' ')} (default: the preset's)")
    p.add_argument("--schedule", choices=["cosine", "fixed"], help="learning-rate schedule (default: the preset's)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="one probe per seed; results are averaged")
    p.add_argument("--normalize", choices=["standardize", "l2", "none"],
                   help="feature normalization (default standardize: z-scored with train statistics; XKD's code: none)")
    _clip_rows(p, "test probabilities")
    p.set_defaults(func=run_linear)
    p = inner.add_parser("knn", help="weighted k-NN (cosine, T=0.07)")
    _common(p)
    p.add_argument("--k", nargs="+", type=int, default=[20, 200], help="neighbour counts; the first is reported")
    p.add_argument("--temperature", type=float, default=0.07, help="T of the exp(similarity / T) vote weights")
    p.set_defaults(func=run_knn)
    for verb, fn, text in (("fusion", run_fusion, "late fusion: [l2(audio) | l2(video)] then SVM"),
                           ("retrieval", run_retrieval, "Recall@K audio->video and video->audio")):
        p = inner.add_parser(verb, help=text)
        _common(p, features=False)
        p.add_argument("--audio", nargs="+", metavar="FILE", help="audio features, one per split")
        p.add_argument("--video", nargs="+", metavar="FILE", help="video features, one per split")
        p.add_argument("--seed", type=int, default=0, help="seed of the CV folds and the SVM solver")
        p.set_defaults(func=fn)
    inner.choices["retrieval"].add_argument("--k", nargs="+", type=int, default=[1, 5, 10],
                                            help="K of Recall@K; the first is the headline metric")
    inner.choices["retrieval"].add_argument("--split", default="test", help="split whose pairs are retrieved")
    inner.choices["retrieval"].add_argument(
        "--finetune", action="store_true", help="MAViL Table 9 style: train a linear projection per modality on the "
        "train(+val) pairs with InfoNCE (tau 0.1), then retrieve the test pairs (default: zero-shot)")
    inner.choices["retrieval"].add_argument("--ties", choices=["expected", "against", "favour"], default="expected",
                                            help="a tie with the true item: broken at random (expected), counted "
                                                 "ahead of it, or behind it")
    inner.choices["fusion"].add_argument("--costs", nargs="+", type=float, default=[1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
                                         help="grid of SVM costs C")
    inner.choices["fusion"].add_argument("--extend-grid", type=int, default=3,
                                         help="decades the C grid may grow by when the chosen C sits on its edge")
    p = inner.add_parser("finetune", help="fine-tune exported backbones with a preset (xkd Tables S6-S7, mavil "
                                          "Table 10); without --data it shows the preset")
    p.add_argument("--preset", required=True, help="preset name, or 'list' to print them")
    p.add_argument("--json", metavar="OUT", help="write the preset (without --data) or result + card as JSON")
    add_finetune_args(p)
    p.set_defaults(func=run_finetune)


def _card(args: argparse.Namespace, protocol: str, files: list[str], aggregation: str = "", **kw: Any) -> Any:
    from xmodal.eval.protocol import FeatureSpec, ProtocolCard, file_sha256

    extraction = getattr(args, "extraction", {})
    train, test = clips(args, bool(extraction))
    if extraction:
        source = "extracted: " + ", ".join(files)
        pooling = "CLS token" if args.cls else "mean of last-layer patch tokens"
        infos = [extraction[m] for m in ("audio", "video")] if "audio" in extraction else [extraction]
        sha = " + ".join(i["backbone_sha256"] for i in infos)
    else:
        source, pooling = "precomputed: " + ", ".join(files), args.pooling
        sha = file_sha256(args.checkpoint) if args.checkpoint else ""
    spec = FeatureSpec(source=source, pooling=pooling, cls_token=args.cls, modality=args.modality,
                       train_clips_per_video=train, test_clips_per_video=test, extraction=extraction,
                       **({"clip_aggregation": aggregation} if aggregation else {}))
    return ProtocolCard(protocol=protocol, features=spec, dataset=args.dataset, split_files=list(args.split_files),
                        checkpoint=args.checkpoint, checkpoint_sha256=sha, **kw)


def _finish(args: argparse.Namespace, card: Any, metric: str, per_split: list[dict[str, Any]], start: float,
            first: Any = None) -> int:
    report_result(args, card, metric, per_split, start)
    if args.png and first is not None:
        _pictures(args.png, card.protocol, *first, manifest=getattr(args, "data", None))
    return 0


def _pictures(out: str, name: str, data: Any, scores: Any, manifest: str | None = None) -> None:
    from pathlib import Path

    from xmodal.eval.plots import confusion_png, pca_scatter_png

    names = None
    if manifest:
        from xmodal.data.dataset import read_manifest

        names = read_manifest(manifest).classes
    test = data.by_split("test")
    pca_scatter_png(test.features, test.labels, Path(out) / f"{name}_pca.png", title=f"{name}: test features",
                    class_names=names)
    if not test.multilabel:
        confusion_png(test.labels, scores.argmax(1), data.num_classes, Path(out) / f"{name}_confusion.png",
                      class_names=names)


def _metric(data: Any) -> str:
    return "mAP" if data.multilabel else "top1"


def _grid_warnings(card: Any, per_split: list[dict[str, Any]]) -> None:
    """Flag every split whose chosen C sat on the edge of the grid (and was extended, or still sits there)."""
    for r in per_split:
        grid = ", ".join(f"{c:g}" for c in r["grid_searched"])
        if r["C_at_grid_edge"]:
            card.warn(f"{r['file']}: chosen C = {r['chosen_C']:g} is on the edge of the searched grid [{grid}] "
                      f"after {r['grid_extended']} extension(s); widen --costs or --extend-grid")
        elif r["grid_extended"]:
            card.warn(f"{r['file']}: the optimum sat on the edge of the C grid; extended by {r['grid_extended']} "
                      f"decade(s) to [{grid}], chosen C = {r['chosen_C']:g}")


def run_svm(args: argparse.Namespace) -> int:
    import numpy as np

    from xmodal.eval.departures import svm_departures
    from xmodal.eval.features import FeatureSet
    from xmodal.eval.svm import SVMConfig, svm_eval, svm_eval_folds

    start = time.perf_counter()
    official = args.protocol == "official"
    args.clip_rows, args.augment = args.clip_rows or official, args.augment or official
    cfg = SVMConfig(costs=tuple(args.costs), selection=args.selection, cv_folds=args.cv_folds, backend=args.backend,
                    device=args.device, seed=args.seed, normalize="none" if official else "l2",
                    per_clip=args.clip_rows, extend_grid=args.extend_grid,
                    skip_empty_classes=args.map_empty_classes == "drop")
    per_split: list[dict[str, Any]] = []
    first = None
    inputs = feature_inputs(args)
    for path, data in inputs:
        results = svm_eval_folds(data, cfg) if args.folds else [svm_eval(data, cfg)]
        if first is None:
            view = data.mean_by_id()
            if args.folds:
                test_rows = view.fold == np.unique(view.fold)[0]
                view = FeatureSet(view.features, view.labels, view.ids, np.where(test_rows, "test", "train"))
            first = (view, results[0]["predictions"])
        per_split += [{"file": path, **r} for r in results]
    rule = ("leave-one-fold-out over 'fold'; C by CV over the other folds" if args.folds else
            "C maximizing val score (val split) else k-fold CV on train (grouped by video, stratified when possible); "
            "refit on train+val; test once")
    card = _card(args, "svm", [n for n, _ in inputs], normalization=cfg.normalize, grid={"C": list(cfg.costs)},
                 selection_rule=rule + f"; grid extended by up to {cfg.extend_grid} decades at an edge optimum",
                 seeds=[args.seed], aggregation=_aggregation(cfg.per_clip, "decision scores"),
                 hyperparameters={"loss": "squared_hinge", "multiclass": "one-vs-rest", "backend": cfg.backend,
                                  "cv_folds": cfg.cv_folds, "protocol": args.protocol, "per_clip": cfg.per_clip})
    train, test = clips(args, bool(args.extraction))
    svm_departures(card, cfg, extracted=bool(args.extraction), augmented=args.augment, train_clips=train,
                   test_clips=test, multilabel=data.multilabel)
    _grid_warnings(card, per_split)
    return _finish(args, card, _metric(data), per_split, start, first)


def _aggregation(per_clip: bool, what: str) -> str:
    return (f"every clip its own row; {what} averaged over a video's clip rows" if per_clip else
            "mean of clip features per video")


def run_linear(args: argparse.Namespace) -> int:
    from dataclasses import asdict, replace

    from xmodal.eval.departures import probe_departures
    from xmodal.eval.linear_probe import ProbeConfig, preset, probe_eval

    start = time.perf_counter()
    cfg = preset(args.preset) if args.preset else ProbeConfig()
    over = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "weight_decay", "dropout", "schedule",
                                          "normalize")}
    cfg = replace(cfg, device=args.device, per_clip=args.clip_rows, **{k: v for k, v in over.items() if v is not None})
    skip_empty = args.map_empty_classes == "drop"
    per_split, first = [], None
    inputs = feature_inputs(args)
    for path, data in inputs:
        for seed in args.seeds:
            r = probe_eval(data, cfg, seed, skip_empty_classes=skip_empty)
            first = first or (data.mean_by_id(), r["predictions"])
            per_split.append({"file": path, **r})
    card = _card(args, "linear", [n for n, _ in inputs], normalization=cfg.normalize, hyperparameters=asdict(cfg),
                 selection_rule=f"fixed preset {args.preset or 'default'}; trained on train+val", seeds=args.seeds,
                 aggregation=_aggregation(cfg.per_clip, "test probabilities"))
    probe_departures(card, cfg, args.preset, extracted=bool(args.extraction), augmented=args.augment,
                     multilabel=data.multilabel, skip_empty=skip_empty)
    return _finish(args, card, _metric(data), per_split, start, first)


def run_knn(args: argparse.Namespace) -> int:
    from xmodal.eval.departures import knn_departures
    from xmodal.eval.knn import knn_eval

    start = time.perf_counter()
    per_split, first = [], None
    inputs = feature_inputs(args)
    for path, data in inputs:
        r = knn_eval(data, ks=args.k, temperature=args.temperature, device=args.device,
                     skip_empty_classes=args.map_empty_classes == "drop")
        main = r["per_k"][str(args.k[0])]
        first = first or (data.mean_by_id(), main["predictions"])
        per_k = {k: {"value": v["value"], "metrics": v["metrics"]} for k, v in r["per_k"].items()}
        per_split.append({"file": path, "value": main["value"], "per_k": per_k, "runtime_s": r["runtime_s"]})
    card = _card(args, "knn", [n for n, _ in inputs], normalization="l2 (cosine)",
                 hyperparameters={"k": args.k, "temperature": args.temperature, "vote": "sum of exp(s/T)"},
                 selection_rule=f"none; 'mean' reports k={args.k[0]}, per_k lists all")
    knn_departures(card)
    return _finish(args, card, _metric(data), per_split, start, first)


def run_fusion(args: argparse.Namespace) -> int:
    from xmodal.eval.departures import svm_departures
    from xmodal.eval.fusion import fuse, fusion_eval
    from xmodal.eval.svm import SVMConfig

    start = time.perf_counter()
    cfg = SVMConfig(costs=tuple(args.costs), device=args.device, seed=args.seed, extend_grid=args.extend_grid,
                    normalize="none", skip_empty_classes=args.map_empty_classes == "drop")
    per_split, first = [], None
    pairs = pair_inputs(args)
    for name, audio, video in pairs:
        r = fusion_eval(audio, video, cfg)
        first = first or (fuse(audio.mean_by_id(), video.mean_by_id()), r["predictions"])
        per_split.append({"file": name, **r})
    card = _card(args, "fusion", [n for n, _, _ in pairs], normalization="l2 per modality, concatenation not "
                 "normalized again", grid={"C": list(cfg.costs)}, seeds=[args.seed],
                 selection_rule="C on val split else k-fold CV on train (grouped by video, stratified when "
                 "possible); grid extended at an edge optimum")
    train, test = clips(args, bool(args.extraction))
    svm_departures(card, cfg, extracted=bool(args.extraction), augmented=args.augment, train_clips=train,
                   test_clips=test, multilabel=first[0].multilabel, fusion=True)
    _grid_warnings(card, per_split)
    return _finish(args, card, _metric(first[0]), per_split, start, first)


def run_retrieval(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from xmodal.eval.departures import retrieval_departures
    from xmodal.eval.retrieval import ProjectionConfig, finetuned_retrieval_eval, retrieval_eval

    start = time.perf_counter()
    per_split = []
    pairs = pair_inputs(args)
    projection = ProjectionConfig(seed=args.seed)
    for name, audio, video in pairs:
        if args.finetune:
            r = finetuned_retrieval_eval(audio, video, projection, ks=args.k, split=args.split, device=args.device,
                                         ties=args.ties)
        else:
            r = retrieval_eval(audio, video, ks=args.k, split=args.split, device=args.device, ties=args.ties)
        per_split.append({"file": name, "value": r["a2v"][f"R@{args.k[0]}"], **r})
    hyper: dict[str, Any] = {"k": args.k, "split": args.split, "ties": args.ties}
    if args.finetune:
        hyper["projection"] = asdict(projection)
    card = _card(args, "retrieval", [n for n, _, _ in pairs], normalization="l2 (cosine)", hyperparameters=hyper,
                 selection_rule="none (fixed projection recipe)" if args.finetune else "none (zero-shot)")
    retrieval_departures(card, args.finetune)
    return _finish(args, card, f"a2v R@{args.k[0]}", per_split, start)
