"""``xmodal demo``: the embedded end-to-end run on the synthetic audio-visual benchmark.

1. Generate the benchmark (``xmodal data synth --demo``) unless it is already there (then the protocol card
   records the benchmark found, from its ``manifest.json``, not ``--clips/--seed``).
2. For each pretraining seed, pretrain V-MAE, AV-MAE and XKD with ``configs/xkd/synthetic_tiny.yaml`` (same model
   sizes, data, epochs and optimizer; only the objective differs) and, when asked, MAViL stage 1 with
   ``configs/mavil/synthetic_tiny.yaml``. Each run auto-resumes, so an interrupted demo picks up again.
3. Load each exported backbone, embed the train/val/test clips (mean of last-layer patch tokens, one centred
   clip per video, no augmentation, on the geometry the backbone was trained on) and score a linear SVM whose
   cost is chosen on the validation split; the test split is scored once. Audio+video late fusion concatenates
   the L2-normalized features (Table 9). An untrained backbone of the same architecture gives the random-init
   floor (per seed).
4. Mean ± std over seeds (:mod:`xmodal.demo_report`), ``results.json`` / ``results.md`` and the figures (with
   MAViL: ``reconstruction_mavil.png``, its masked audio and video reconstructions, MAViL App. A Fig. 3).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from xmodal.analysis.mavil_reconstruction import mavil_reconstruction_png
from xmodal.analysis.visualize import reconstruction_png, refine_attention_png, training_curves_png
from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.data.collate import collate_samples
from xmodal.data.dataset import AVDataset, read_manifest
from xmodal.data.io import AudioSpec, VideoSpec
from xmodal.data.views import EvalConfig, EvalTransform
from xmodal.demo_report import Rows, aggregate, binomial_stderr, markdown, protocol_card
from xmodal.eval.features import FeatureSet
from xmodal.eval.fusion import fusion_eval
from xmodal.eval.geometry import FIELDS, EvalGeometry
from xmodal.eval.svm import SVMConfig, svm_eval
from xmodal.methods.pretrain import load_pretrain_config, pretrain
from xmodal.methods.xkd import XKD
from xmodal.methods.xkd_config import PretrainConfig
from xmodal.models.export import load_backbone, read_export_doc

log = logging.getLogger(__name__)
MODELS = {"vmae": "V-MAE", "avmae": "AV-MAE", "xkd": "XKD", "mavil": "MAViL"}
DEFAULT_MODELS = ("vmae", "avmae", "xkd")  # MAViL is opt-in: it keeps the default demo under 15 min on 2 cores


@dataclass
class DemoOptions:
    out: Path = Path("xmodal-demo")
    clips: int = 1200
    seed: int = 0
    seeds: tuple[int, ...] = ()  # pretraining seeds; empty = (seed,)
    config: str = "xkd/synthetic_tiny"
    mavil_config: str = "mavil/synthetic_tiny"
    models: tuple[str, ...] = DEFAULT_MODELS
    threads: int = 2
    overrides: list[str] = field(default_factory=list)  # ``mavil.KEY=VALUE`` goes to the MAViL config
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise ValueError(f"models: unknown {unknown or list(self.models)}; choose from {', '.join(MODELS)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: {list(self.seeds)} repeats a seed; give each pretraining seed once")

    @property
    def pretrain_seeds(self) -> tuple[int, ...]:
        return self.seeds or (self.seed,)


def ensure_benchmark(opts: DemoOptions) -> Path:
    from xmodal.data.synth.config import SynthConfig
    from xmodal.data.synth.generate import generate

    folder = opts.out / "synthetic"
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        log.info("benchmark present: %s (its own clips/seed are used and recorded; --clips/--seed only apply when "
                 "generating)", manifest)
        return manifest
    start = time.perf_counter()
    generate(SynthConfig.demo(clips=opts.clips, seed=opts.seed), folder, workers=2, progress=opts.progress)
    log.info("generated %d clips in %.0fs → %s", opts.clips, time.perf_counter() - start, manifest)
    return manifest


def run_dir(opts: DemoOptions, objective: str, seed: int) -> Path:
    """``runs/<objective>`` for a one-seed demo (as before seeds existed), ``runs/seed<s>/<objective>`` otherwise."""
    if len(opts.pretrain_seeds) == 1:
        return opts.out / "runs" / objective
    return opts.out / "runs" / f"seed{seed}" / objective


def model_config(opts: DemoOptions, manifest: Path, objective: str, seed: int) -> Any:
    common = [f"data.source={manifest}", f"out_dir={run_dir(opts, objective, seed)}", f"trainer.seed={seed}",
              f"trainer.progress={'rich' if opts.progress else 'none'}", "monitor.online=off"]  # probed offline
    if objective == "mavil":
        extra = [o.removeprefix("mavil.") for o in opts.overrides if o.startswith("mavil.")]
        return load_pretrain_config(config_path(opts.mavil_config), [*common, *extra])
    extra = [o for o in opts.overrides if not o.startswith("mavil.")]
    return load_config(PretrainConfig, config_path(opts.config), [f"loss.objective={objective}", *common, *extra])


def xkd_geometry(cfg: PretrainConfig) -> tuple[EvalConfig, float]:
    views = cfg.data.views
    return EvalConfig(fps=views.fps, frames=views.video_global.frames, size=views.video_global.size,
                      audio_seconds=views.audio_global.seconds, frontend=views.logmel), cfg.data.clip_seconds


def eval_inputs(manifest: Path, eval_cfg: EvalConfig, clip_seconds: float, decode_size: int) -> dict[str, Any]:
    """Every clip of every split, decoded once and transformed without randomness (kept in memory)."""
    index = read_manifest(manifest)
    dataset = AVDataset(index, clip_seconds=clip_seconds, sampling="center", transform=EvalTransform(eval_cfg),
                        video=VideoSpec(fps=eval_cfg.fps, size=decode_size),
                        audio=AudioSpec(sample_rate=eval_cfg.frontend.sample_rate), on_error="skip")
    loader = DataLoader(dataset, batch_size=64, num_workers=0, collate_fn=collate_samples)
    parts: dict[str, list[Any]] = {"video": [], "audio": [], "label": [], "index": []}
    skipped: list[Any] = []
    for batch in loader:
        skipped += batch["skipped"]
        if "index" in batch:
            for key in parts:
                parts[key].append(batch[key])
    data = {key: torch.cat(value) for key, value in parts.items()}
    rows = [index.rows[int(i)] for i in data["index"]]
    data["split"] = np.array([r.split for r in rows])
    data["id"] = np.array([r.id or r.path for r in rows])
    data["classes"] = index.classes
    data["skipped"] = skipped
    return data


@torch.no_grad()
def embed(backbone: torch.nn.Module, x: torch.Tensor, batch: int = 128) -> np.ndarray:
    backbone.eval()
    return torch.cat([backbone.features(x[i : i + batch]) for i in range(0, len(x), batch)]).float().numpy()


def feature_set(features: np.ndarray, data: dict[str, Any]) -> FeatureSet:
    return FeatureSet(features, data["label"].numpy(), data["id"], data["split"])


def probe(sets: dict[str, FeatureSet]) -> dict[str, dict[str, Any]]:
    """Linear SVM per modality and for late fusion; C chosen on val, test scored once."""
    cfg = SVMConfig()
    results = {name: svm_eval(fs, cfg) for name, fs in sets.items()}
    if "video" in sets and "audio" in sets:
        results["fusion"] = fusion_eval(sets["audio"], sets["video"], cfg)
    out: dict[str, dict[str, Any]] = {}
    for name, res in results.items():
        acc, n = res["value"], res["n_test"]
        out[name] = {"top1": 100 * acc, "stderr": 100 * binomial_stderr(acc, n), "C": res["chosen_C"],
                     "n_test": n, "val_top1": 100 * max(res["selection_scores"].values())}
    return out


def exports(objective: str, out_dir: Path) -> dict[str, dict[str, Path]]:
    """Row name → modality → export path of the backbones a run wrote."""
    if objective == "mavil":
        return {"MAViL": {m: out_dir / "export" / m for m in ("video", "audio")}}
    kinds = ("student", "teacher") if objective == "xkd" else ("student",)
    return {MODELS[objective] + (f" ({k})" if objective == "xkd" else ""):
            {m: out_dir / "export" / f"{k}_{m}" for m in ("video", "audio")} for k in kinds}


class Inputs:
    """Decoded evaluation clips per input geometry (XKD's, MAViL's), decoded once per demo."""

    def __init__(self, manifest: Path, base: dict[str, Any]) -> None:
        self.manifest, self.cache = manifest, {"xkd": base}

    def for_export(self, path: Path) -> dict[str, Any]:
        meta = read_export_doc(path).get("metadata", {}).get("eval_geometry")
        if not meta or meta.get("frontend") != "kaldi_fbank":
            return self.cache["xkd"]
        key = json.dumps(meta, sort_keys=True)
        if key not in self.cache:
            geo = EvalGeometry(**{k: v for k, v in meta.items() if k in FIELDS})
            self.cache[key] = eval_inputs(self.manifest, geo.eval_config(), geo.clip_seconds, geo.size)
        return self.cache[key]


def run_seed(opts: DemoOptions, seed: int, manifest: Path, inputs: Inputs, base_cfg: PretrainConfig,
             timings: dict[str, float]) -> tuple[Rows, dict[str, Path], dict[str, Any]]:
    """Random-init floor and every model of ``opts.models`` pretrained with ``seed``, each probed."""
    data = inputs.cache["xkd"]
    rows: Rows = {}
    torch.manual_seed(seed)
    random_method = XKD(base_cfg)
    rows["random init"] = probe({mod: feature_set(embed(random_method.backbone(mod), data[mod]), data)
                                 for mod in ("video", "audio")})
    runs: dict[str, Path] = {}
    trained: dict[str, Any] = {}
    tag = "" if len(opts.pretrain_seeds) == 1 else f"_seed{seed}"
    for objective in opts.models:
        cfg = model_config(opts, manifest, objective, seed)
        log.info("pretraining %s (seed %d)", MODELS[objective], seed)
        t = time.perf_counter()
        result = pretrain(cfg)
        timings[f"pretrain_{objective}{tag}_s"] = time.perf_counter() - t
        runs[MODELS[objective]] = Path(cfg.out_dir)
        trained[objective] = result["method"]
        for name, paths in exports(objective, Path(cfg.out_dir)).items():
            sets = {}
            for mod, path in paths.items():
                if path.with_suffix(".safetensors").is_file():
                    mod_data = inputs.for_export(path)
                    sets[mod] = feature_set(embed(load_backbone(path), mod_data[mod]), mod_data)
            rows[name] = probe(sets)
    return rows, runs, trained


def run_demo(opts: DemoOptions) -> dict[str, Any]:
    """Run the demo and return its report (also written to ``results.json`` / ``results.md``)."""
    torch.set_num_threads(opts.threads)
    opts.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    manifest = ensure_benchmark(opts)
    timings["benchmark_s"] = time.perf_counter() - start
    seeds = opts.pretrain_seeds
    base_cfg = model_config(opts, manifest, "xkd", seeds[0])
    t = time.perf_counter()
    inputs = Inputs(manifest, eval_inputs(manifest, *xkd_geometry(base_cfg), base_cfg.data.decode_size))
    timings["eval_decode_s"] = time.perf_counter() - t
    per_seed: dict[int, Rows] = {}
    first: tuple[dict[str, Path], dict[str, Any]] = ({}, {})
    for i, seed in enumerate(seeds):
        rows, runs, trained = run_seed(opts, seed, manifest, inputs, base_cfg, timings)
        per_seed[seed] = rows
        if i == 0:
            first = (runs, trained)
    data = inputs.cache["xkd"]
    figures = write_figures(opts.out, first[1].get("xkd"), data, first[0])
    if "mavil" in first[1]:  # MAViL App. A Fig. 3 on its own inputs (Kaldi fbank, 2 fps)
        mavil_data = inputs.for_export(first[0]["MAViL"] / "export" / "audio")
        i = first_test_clip(mavil_data)
        figures.append(mavil_reconstruction_png(first[1]["mavil"], mavil_data["audio"][i], mavil_data["video"][i],
                                                opts.out / "reconstruction_mavil.png"))
    timings["total_s"] = time.perf_counter() - start
    counts = {s: int((data["split"] == s).sum()) for s in ("train", "val", "test")}
    report = {
        "protocol": protocol_card(opts.config, opts.overrides, base_cfg.trainer.max_epochs, seeds, manifest, counts,
                                  opts.mavil_config if "mavil" in opts.models else None),
        "results": aggregate(per_seed),
        "per_seed": {str(s): rows for s, rows in per_seed.items()},
        "timings": timings,
        "figures": [str(p) for p in figures],
        "skipped_eval_clips": [list(s) for s in data["skipped"]],
    }
    (opts.out / "results.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (opts.out / "results.md").write_text(markdown(report))
    return report


def write_figures(out: Path, xkd: Any, data: dict[str, Any], runs: dict[str, Path]) -> list[Path]:
    figures = [training_curves_png(runs, out / "training_curves.png")]
    if xkd is not None:
        i = first_test_clip(data)
        figures.append(reconstruction_png(xkd, data["video"][i], data["audio"][i], out / "reconstruction.png"))
        figures.append(refine_attention_png(xkd, data["video"][i], data["audio"][i], out / "refine_attention.png"))
    return figures


def first_test_clip(data: dict[str, Any]) -> int:
    test = np.flatnonzero(data["split"] == "test")
    return int(test[0]) if len(test) else 0


def options_from(**kwargs: Any) -> DemoOptions:
    names = {f.name for f in dataclasses.fields(DemoOptions)}
    return DemoOptions(**{k: v for k, v in kwargs.items() if k in names and v is not None})
