"""``xmodal demo``: the embedded end-to-end run on the synthetic audio-visual benchmark.

1. Generate the benchmark (``xmodal data synth --demo``) unless it is already there.
2. Pretrain V-MAE, AV-MAE and XKD with ``configs/xkd/synthetic_tiny.yaml`` (same model sizes, data, epochs
   and optimizer; only the objective differs). Each run auto-resumes, so an interrupted demo picks up again.
3. Load each exported backbone, embed the train/val/test clips (mean of last-layer patch tokens, one centred
   clip per video, no augmentation) and score a linear SVM whose cost is chosen on the validation split;
   the test split is scored once. Audio+video late fusion concatenates the L2-normalized features (Table 9).
   An untrained backbone of the same architecture gives the random-init floor.
4. Write ``results.json`` / ``results.md`` and the figures (reconstructions, refine attention, curves).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from xmodal.analysis.visualize import reconstruction_png, refine_attention_png, training_curves_png
from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.data.collate import collate_samples
from xmodal.data.dataset import AVDataset, read_manifest
from xmodal.data.io import AudioSpec, VideoSpec
from xmodal.data.views import EvalConfig, EvalTransform
from xmodal.eval.features import FeatureSet
from xmodal.eval.fusion import fusion_eval
from xmodal.eval.svm import SVMConfig, svm_eval
from xmodal.methods.pretrain import pretrain
from xmodal.methods.xkd import XKD
from xmodal.methods.xkd_config import PretrainConfig
from xmodal.models.export import load_backbone

MODELS = {"vmae": "V-MAE", "avmae": "AV-MAE", "xkd": "XKD"}


@dataclass
class DemoOptions:
    out: Path = Path("xmodal-demo")
    clips: int = 1200
    seed: int = 0
    config: str = "xkd/synthetic_tiny"
    models: tuple[str, ...] = ("vmae", "avmae", "xkd")
    threads: int = 2
    overrides: list[str] = field(default_factory=list)
    progress: bool = True


def ensure_benchmark(opts: DemoOptions, console: Console) -> Path:
    from xmodal.data.synth.config import SynthConfig
    from xmodal.data.synth.generate import generate

    folder = opts.out / "synthetic"
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        console.print(f"[dim]benchmark present: {manifest}[/]")
        return manifest
    start = time.perf_counter()
    generate(SynthConfig.demo(clips=opts.clips, seed=opts.seed), folder, workers=2, progress=opts.progress)
    console.print(f"generated {opts.clips} clips in {time.perf_counter() - start:.0f}s → {manifest}")
    return manifest


def model_config(opts: DemoOptions, manifest: Path, objective: str) -> PretrainConfig:
    overrides = [
        f"data.source={manifest}",
        f"loss.objective={objective}",
        f"out_dir={opts.out / 'runs' / objective}",
        f"trainer.seed={opts.seed}",
        f"trainer.progress={'rich' if opts.progress else 'none'}",
        *opts.overrides,
    ]
    return load_config(PretrainConfig, config_path(opts.config), overrides)


def eval_inputs(cfg: PretrainConfig, manifest: Path) -> dict[str, Any]:
    """Every clip of every split, decoded once and transformed without randomness (kept in memory)."""
    views = cfg.data.views
    index = read_manifest(manifest)
    transform = EvalTransform(EvalConfig(fps=views.fps, frames=views.video_global.frames, size=views.video_global.size,
                                         audio_seconds=views.audio_global.seconds, frontend=views.logmel))
    dataset = AVDataset(index, clip_seconds=cfg.data.clip_seconds, sampling="center", transform=transform,
                        video=VideoSpec(fps=views.fps, size=cfg.data.decode_size),
                        audio=AudioSpec(sample_rate=views.logmel.sample_rate), on_error="skip")
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
        out[name] = {"top1": 100 * acc, "stderr": 100 * math.sqrt(max(acc * (1 - acc), 1e-12) / n),
                     "C": res["chosen_C"], "n_test": n, "val_top1": 100 * max(res["selection_scores"].values())}
    return out


def run_demo(opts: DemoOptions) -> dict[str, Any]:
    console = Console()
    torch.set_num_threads(opts.threads)
    opts.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    manifest = ensure_benchmark(opts, console)
    timings["benchmark_s"] = time.perf_counter() - start
    base_cfg = model_config(opts, manifest, "xkd")
    t = time.perf_counter()
    data = eval_inputs(base_cfg, manifest)
    timings["eval_decode_s"] = time.perf_counter() - t
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    torch.manual_seed(opts.seed)
    random_method = XKD(base_cfg)
    rows["random init"] = probe({mod: feature_set(embed(random_method.backbone(mod), data[mod]), data)
                                 for mod in ("video", "audio")})
    runs: dict[str, Path] = {}
    trained: dict[str, Any] = {}
    for objective in opts.models:
        cfg = model_config(opts, manifest, objective)
        console.rule(f"pretraining {MODELS[objective]}")
        t = time.perf_counter()
        result = pretrain(cfg)
        timings[f"pretrain_{objective}_s"] = time.perf_counter() - t
        runs[MODELS[objective]] = Path(cfg.out_dir)
        trained[objective] = result["method"]
        kinds = ("student", "teacher") if objective == "xkd" else ("student",)
        for kind in kinds:
            sets = {}
            for mod in ("video", "audio"):
                path = Path(cfg.out_dir) / "export" / f"{kind}_{mod}.safetensors"
                if path.is_file():
                    sets[mod] = feature_set(embed(load_backbone(path), data[mod]), data)
            name = MODELS[objective] + (f" ({kind})" if objective == "xkd" else "")
            rows[name] = probe(sets)
    figures = write_figures(opts.out, trained.get("xkd"), data, runs)
    timings["total_s"] = time.perf_counter() - start
    report = {
        "protocol": protocol_card(opts, base_cfg, data),
        "results": rows,
        "timings": timings,
        "figures": [str(p) for p in figures],
        "skipped_eval_clips": [list(s) for s in data["skipped"]],
    }
    (opts.out / "results.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (opts.out / "results.md").write_text(markdown(report))
    console.print(results_table(rows))
    console.print(f"results: {opts.out / 'results.md'}  ({timings['total_s'] / 60:.1f} min)")
    return report


def protocol_card(opts: DemoOptions, cfg: PretrainConfig, data: dict[str, Any]) -> dict[str, Any]:
    counts = {s: int((data["split"] == s).sum()) for s in ("train", "val", "test")}
    return {
        "data": f"synthetic MVD benchmark, {opts.clips} clips, seed {opts.seed}, splits {counts}",
        "pretraining": f"{opts.config} (+ {opts.overrides}); {cfg.trainer.max_epochs} epochs, seed {opts.seed}; "
                       "same model sizes, data and schedule for every objective",
        "features": "mean of last-layer patch tokens (CLS excluded), one centred 4 s clip, no augmentation",
        "probe": "linear SVM on L2-normalized features, C ∈ {1e-5…1} (grown by up to 3 decades when the optimum "
                 "sits on an end) chosen on val, refit on train+val, test scored once; ± is the binomial standard "
                 "error over test clips (one pretraining seed)",
        "fusion": "audio and video features L2-normalized each, concatenated, not normalized again (XKD Table 9)",
    }


def results_table(rows: dict[str, dict[str, dict[str, Any]]]) -> Table:
    table = Table(title="linear SVM top-1 (%) on the synthetic benchmark's test split")
    for col in ("backbone", "video", "audio", "audio+video"):
        table.add_column(col, justify="right" if col != "backbone" else "left")
    for name, res in rows.items():
        cells = [f"{res[k]['top1']:.1f} ± {res[k]['stderr']:.1f}" if k in res else "—"
                 for k in ("video", "audio", "fusion")]
        table.add_row(name, *cells)
    return table


def markdown(report: dict[str, Any]) -> str:
    lines = ["# xmodal demo results", "", "| backbone | video | audio | audio+video |", "|---|---|---|---|"]
    for name, res in report["results"].items():
        cells = [f"{res[k]['top1']:.1f} ± {res[k]['stderr']:.1f}" if k in res else "—"
                 for k in ("video", "audio", "fusion")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Protocol", ""] + [f"- **{k}**: {v}" for k, v in report["protocol"].items()]
    lines += ["", "## Timings (s)", ""] + [f"- {k}: {v:.1f}" for k, v in report["timings"].items()]
    lines += ["", "## Figures", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in report["figures"]]
    return "\n".join(lines) + "\n"


def write_figures(out: Path, xkd: Any, data: dict[str, Any], runs: dict[str, Path]) -> list[Path]:
    figures = [training_curves_png(runs, out / "training_curves.png")]
    if xkd is not None:
        test = np.flatnonzero(data["split"] == "test")
        i = int(test[0]) if len(test) else 0
        figures.append(reconstruction_png(xkd, data["video"][i], data["audio"][i], out / "reconstruction.png"))
        figures.append(refine_attention_png(xkd, data["video"][i], data["audio"][i], out / "refine_attention.png"))
    return figures


def options_from(**kwargs: Any) -> DemoOptions:
    names = {f.name for f in dataclasses.fields(DemoOptions)}
    return DemoOptions(**{k: v for k, v in kwargs.items() if k in names and v is not None})
