"""MAViL's small-scale table: AV-MAE, MAViL stage 1 and stage 2 on a synthetic benchmark, several seeds.

For each pretraining seed the script runs ``xmodal pretrain``'s library function three times on the same data,
model sizes and schedule (``configs/mavil/synthetic_tiny.yaml``; only the objective differs):

* **AV-MAE**: stage 1 without the contrastive terms (``loss.use_inter=false loss.use_intra=false``, i.e. α = β = 0;
  MAViL Table 3's first row);
* **MAViL stage 1**: Eq. 4 (raw reconstruction + α inter-modal + β intra-modal InfoNCE);
* **MAViL stage 2**: ``configs/mavil/synthetic_tiny_stage2.yaml`` with ``loss.teacher`` = *that seed's* stage-1
  checkpoint (Eq. 6, MAViL-Fusion targets);

plus the untrained MAViL architecture with the same seed (the random-init floor). Every exported encoder stack is
evaluated with the XKD demo's protocol (:mod:`xmodal.demo`: one centred clip per video on the geometry stored in the
export, mean of patch tokens, linear SVM with C chosen on val, test scored once): audio, video, late fusion of the
L2-normalized audio and video features (XKD Table 9), and MAViL's own fused feature (concatenated means of the
fusion-encoder outputs, :meth:`~xmodal.models.mavil.MAViLEncoder.features`). Audio→video retrieval Recall@1 on the
test pairs (:mod:`xmodal.eval.retrieval`, what ``xmodal eval retrieval`` runs) uses the pre-fusion mean-pooled
embeddings that the inter-modal term aligns: zero-shot, and the fine-tuned protocol (``--finetune``: a linear
projection per modality trained with InfoNCE on the train+val pairs).

``--lock FILE`` takes an exclusive ``flock`` on FILE around every pretraining run and every evaluation (a machine
shared with other heavy jobs). Runs resume (``trainer.resume=auto``), and the JSON is rewritten after every seed.

    xmodal data synth --demo --out /tmp/mavilwork/demo
    python benchmarks/mavil_small.py --data /tmp/mavilwork/demo/manifest.csv --work /tmp/mavilwork/table \\
        --epochs 5 --seeds 0 1 2 --json benchmarks/results/mavil_small_demo.json
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xmodal.configs import config_path
from xmodal.demo import Inputs, feature_set, probe
from xmodal.demo_report import benchmark_card
from xmodal.eval.retrieval import ProjectionConfig, finetuned_retrieval_eval, retrieval_eval
from xmodal.methods.mavil import build_encoder
from xmodal.methods.mavil_config import MAViLConfig
from xmodal.methods.pretrain import load_pretrain_config, pretrain
from xmodal.models.export import load_backbone
from xmodal.models.mavil import MAViLEncoder

log = logging.getLogger("mavil_small")
MODELS = {
    "AV-MAE": ("mavil/synthetic_tiny", ["loss.use_inter=false", "loss.use_intra=false"]),
    "MAViL stage 1": ("mavil/synthetic_tiny", []),
    "MAViL stage 2": ("mavil/synthetic_tiny_stage2", []),
}
CELLS = ("audio", "video", "fusion", "fused", "a2v_r1_zero_shot", "a2v_r1_finetuned")


@contextlib.contextmanager
def locked(path: str | None) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` for the duration (nothing when ``path`` is None)."""
    if path is None:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_config(name: str, manifest: Path, work: Path, seed: int, epochs: int, extra: list[str]) -> MAViLConfig:
    cfg_name, overrides = MODELS[name]
    out_dir = work / f"seed{seed}" / name.lower().replace(" ", "_").replace("-", "")
    common = [f"data.source={manifest}", f"out_dir={out_dir}", f"trainer.seed={seed}", f"trainer.max_epochs={epochs}",
              "trainer.progress=none", "monitor.online=off"]
    if name == "MAViL stage 2":
        common.append(f"loss.teacher={work / f'seed{seed}' / 'mavil_stage_1' / 'checkpoints' / 'last.ckpt'}")
    cfg = load_pretrain_config(config_path(cfg_name), [*common, *overrides, *extra])
    assert isinstance(cfg, MAViLConfig)
    return cfg


@torch.no_grad()
def encoder_features(encoder: MAViLEncoder, data: dict[str, Any], batch: int = 128) -> dict[str, np.ndarray]:
    """:meth:`MAViLEncoder.features` of every decoded clip: pre-fusion audio and video means, fused concatenation."""
    encoder.eval()
    parts: dict[str, list[torch.Tensor]] = {"audio": [], "video": [], "fused": []}
    for i in range(0, len(data["audio"]), batch):
        out = encoder.features(data["audio"][i : i + batch], data["video"][i : i + batch])
        for key in parts:
            parts[key].append(out[key].float())
    return {key: torch.cat(value).numpy() for key, value in parts.items()}


def evaluate(encoder: MAViLEncoder, data: dict[str, Any], seed: int) -> dict[str, dict[str, Any]]:
    """SVM probes (audio, video, late fusion, MAViL fused) and a→v Recall@1 (zero-shot, fine-tuned) in percent."""
    feats = {key: feature_set(value, data) for key, value in encoder_features(encoder, data).items()}
    row = probe({"audio": feats["audio"], "video": feats["video"]})
    row["fused"] = probe({"fused": feats["fused"]})["fused"]
    zero = retrieval_eval(feats["audio"], feats["video"])
    tuned = finetuned_retrieval_eval(feats["audio"], feats["video"], ProjectionConfig(seed=seed))
    row["a2v_r1_zero_shot"] = {"top1": 100 * zero["a2v"]["R@1"], "v2a": 100 * zero["v2a"]["R@1"], "n_test": zero["n"]}
    row["a2v_r1_finetuned"] = {"top1": 100 * tuned["a2v"]["R@1"], "v2a": 100 * tuned["v2a"]["R@1"],
                               "n_test": tuned["n"], "n_train_pairs": tuned["n_train_pairs"]}
    return row


def aggregate(per_seed: dict[int, dict[str, dict[str, dict[str, Any]]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Mean and sample std (ddof = 1, as the demo table) of each cell over the seeds."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in next(iter(per_seed.values())):
        out[name] = {}
        for cell in CELLS:
            values = np.array([rows[name][cell]["top1"] for rows in per_seed.values() if name in rows])
            out[name][cell] = {"mean": float(values.mean()), "per_seed": values.tolist(),
                               "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
    return out


def markdown(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    head = "| model | audio | video | audio+video (late) | fused (MAViL) | a→v R@1 zero-shot | a→v R@1 fine-tuned |"
    lines = [head, "|" + "---|" * 7]
    for name, cells in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{cells[c]['mean']:.1f} ± {cells[c]['std']:.1f}" for c in CELLS)
                     + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="manifest.csv of a synthetic benchmark")
    parser.add_argument("--work", type=Path, required=True, help="folder of the pretraining runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=15, help="pretraining epochs per model (the config: 15)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lock", help="flock this file around every heavy step")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("overrides", nargs="*", help="key=value overrides for every pretraining config")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()  # wall clock of the whole table, waits for --lock included
    per_seed: dict[int, dict[str, dict[str, dict[str, Any]]]] = {}
    timings: dict[str, float] = {}
    inputs = Inputs(args.data, {})  # decodes once per export geometry (MAViL's Kaldi fbank, 2 fps), as the demo
    for seed in args.seeds:
        rows: dict[str, dict[str, dict[str, Any]]] = {}
        for name in MODELS:
            cfg = run_config(name, args.data, args.work, seed, args.epochs, args.overrides)
            with locked(args.lock):
                t = time.perf_counter()
                pretrain(cfg)
                timings[f"pretrain {name} seed {seed} (s)"] = time.perf_counter() - t
            export = Path(cfg.out_dir) / "export"
            with locked(args.lock):
                t = time.perf_counter()
                data = inputs.for_export(export / "audio")
                timings.setdefault("eval decode (s)", time.perf_counter() - t)
                if "random init" not in rows:
                    torch.manual_seed(seed)
                    rows["random init"] = evaluate(build_encoder(cfg), data, seed)
                encoder = load_backbone(export / "encoder")
                assert isinstance(encoder, MAViLEncoder)
                rows[name] = evaluate(encoder, data, seed)
                timings[f"evaluate {name} seed {seed} (s)"] = time.perf_counter() - t
            log.info("seed %d %s: %s", seed, name, {k: round(v["top1"], 1) for k, v in rows[name].items()})
        per_seed[seed] = rows
        results = aggregate(per_seed)
        report = {
            "protocol": {
                "data": benchmark_card(args.data, {s: int((data["split"] == s).sum()) for s in ("train", "val",
                                                                                               "test")}),
                "manifest": str(args.data),
                "pretraining": {name: {"config": c, "overrides": [*o, *args.overrides]} for name, (c, o) in
                                MODELS.items()},
                "epochs": args.epochs, "seeds": list(per_seed), "threads": args.threads,
                "features": "MAViLEncoder.features on one centred clip per video (Kaldi fbank, 8 frames at 2 fps): "
                            "mean of pre-fusion patch tokens per modality; fused = concatenated means of the fusion "
                            "outputs",
                "probe": "xmodal.demo.probe: linear SVM on L2-normalized features, C chosen on val, refit on "
                         "train+val, test once; late fusion = [l2(audio) | l2(video)]",
                "retrieval": "xmodal.eval.retrieval on the test pairs, audio→video Recall@1 in %, ties broken at "
                             "random in expectation; fine-tuned: ProjectionConfig defaults (256-d, 100 epochs, "
                             "InfoNCE τ = 0.1) on the train+val pairs",
                "error": "mean ± sample std (ddof = 1) over the pretraining seeds",
            },
            "results": results,
            "per_seed": {str(s): r for s, r in per_seed.items()},
            "timings": {**timings, "total (s)": time.perf_counter() - start},
            "markdown": markdown(results),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(markdown(aggregate(per_seed)))


if __name__ == "__main__":
    main()
