"""The ``README.md`` model card of an exported backbone: method, data, recipe, input geometry, evaluation,
license and citation — what a reader of a shared checkpoint needs before trusting or reusing it.

Built from the export document (class, parameters, training metadata) and the run's ``config.yaml``; only facts
that are recorded are written (a card never claims a probe number that was not measured).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

# Citations as in docs/references.md (authors, title, venue, arXiv id).
PAPERS = {
    "xkd": ("Pritam Sarkar and Ali Etemad", "XKD: Cross-modal Knowledge Distillation with Domain Alignment for "
            "Video Representation Learning", "AAAI 2024", "2211.13929"),
    "mavil": ("Po-Yao Huang, Vasu Sharma, Hu Xu, Chaitanya Ryali, Haoqi Fan, Yanghao Li, Shang-Wen Li, "
              "Gargi Ghosh, Jitendra Malik and Christoph Feichtenhofer", "MAViL: Masked Audio-Video Learners",
              "NeurIPS 2023", "2212.08071"),
    "xdc": ("Humam Alwassel, Dhruv Mahajan, Bruno Korbar, Lorenzo Torresani, Bernard Ghanem and Du Tran",
            "Self-Supervised Learning by Cross-Modal Audio-Video Clustering", "NeurIPS 2020", "1911.12667"),
}
OBJECTIVES = {"xkd": "XKD (masked reconstruction + domain alignment + cross-modal distillation)",
              "vmae": "V-MAE (video masked autoencoder; the XKD paper's uni-modal baseline)",
              "amae": "A-MAE (audio masked autoencoder; the XKD paper's uni-modal baseline)",
              "avmae": "AV-MAE (audio-visual masked autoencoder; the XKD paper's multi-modal baseline)"}


def method_of(run_config: dict[str, Any], doc: dict[str, Any]) -> tuple[str, str]:
    """(paper key, one-line description) of the method that trained the weights."""
    method = run_config.get("method") or str(doc.get("metadata", {}).get("method", "")).split("-")[0] or "xkd"
    if method == "xkd":
        objective = (run_config.get("loss") or {}).get("objective", "xkd")
        variant = (run_config.get("model") or {}).get("variant")
        text = OBJECTIVES.get(objective, objective)
        return "xkd", text + (f", variant {variant}" if variant and variant != "xkd" else "")
    if method == "mavil":
        loss = run_config.get("loss") or {}
        stage = loss.get("stage") or doc.get("metadata", {}).get("method", "mavil").removeprefix("mavil-stage")
        return "mavil", f"MAViL stage {stage} (masked audio-video reconstruction + inter/intra-modal contrast)"
    return method, method.upper()


def online_monitor(run_dir: Path, name: str) -> dict[str, tuple[int, float]]:
    """The last ``monitor/<modality>_{linear,knn}_acc`` of the run's CSV log for the student backbone ``name``
    (``student_video``, ``video``, …; teachers and fused encoders were not monitored): kind → (epoch, value)."""
    mod = name.removeprefix("student_")
    path = run_dir / "csv" / "metrics.csv"
    if mod not in ("video", "audio") or not path.is_file():
        return {}
    last: dict[str, tuple[int, float]] = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            for kind in ("linear", "knn"):
                value = row.get(f"monitor/{mod}_{kind}_acc")
                if value:
                    last[kind] = (int(float(row.get("epoch") or 0)), float(value))
    return last


def _monitor_lines(monitor: dict[str, tuple[int, float]], k: int, split: str) -> list[str]:
    if not monitor:
        return []
    epoch = max(e for e, _ in monitor.values())
    names = {"linear": "online linear head", "knn": f"online weighted {k}-NN"}
    return [f"- **{names[k]}** ({split} top-1 after epoch {e + 1}): {100 * v:.1f} %" for k, (e, v) in
            monitor.items()] + [f"  - protocol: the online monitors of pretraining (epoch {epoch + 1}); the head "
                                "trains on detached features of augmented training views, the k-NN votes over a "
                                "bank of them (docs/architecture.md); not a substitute for the offline probes"]


def _probe_lines(probes: list[dict[str, Any]]) -> list[str]:
    if not probes:
        return ["No offline probe was run on these weights when they were exported. Evaluate them with "
                "`xmodal eval {svm,linear,knn,finetune} --backbone FOLDER/model.safetensors ...` (docs/evaluation.md)."]
    lines: list[str] = []
    for probe in probes:
        value = f"{probe.get('mean')}" + (f" ± {probe['std']}" if probe.get("std") is not None else "")
        lines.append(f"- **{probe.get('metric', 'result')}**: {value}")
        for key, text in (probe.get("protocol") or {}).items():
            lines.append(f"  - {key}: {text if isinstance(text, str) else json.dumps(text)}")
    return lines


def model_card(name: str, doc: dict[str, Any], run_config: dict[str, Any], probes: list[dict[str, Any]],
               monitor: dict[str, tuple[int, float]] | None = None) -> str:
    key, description = method_of(run_config, doc)
    meta = doc.get("metadata", {})
    data, optim, trainer = (run_config.get(k) or {} for k in ("data", "optim", "trainer"))
    authors, title, venue, arxiv = PAPERS.get(key, ("", "", "", ""))
    monitor_cfg = run_config.get("monitor") or {}
    k, split = monitor_cfg.get("k", 20), monitor_cfg.get("split", "val")
    lines = ["---", "license: apache-2.0", "library_name: xmodal",
             f"tags: [audio-visual, self-supervised, {key}]", "---", "",
             f"# {name}", "",
             f"A `{doc.get('class')}` backbone ({doc.get('parameters', 0):,} parameters) pretrained with xmodal.", "",
             "## Method", "", description + ".", "",
             "## Data", "",
             f"Source: `{data.get('source', 'unknown')}`" + (f", split `{data['split']}`" if data.get("split") else "")
             + ". The data's own license applies to anything trained on it.", "",
             "## Recipe", ""]
    if run_config:
        lines += [f"- epochs: {trainer.get('max_epochs')}, batch size per device: {trainer.get('batch_size')}, "
                  f"seed: {trainer.get('seed')}, precision: {trainer.get('precision')}",
                  f"- optimizer: {optim.get('optimizer')}, lr {optim.get('lr')} (scaling {optim.get('lr_scaling')}), "
                  f"weight decay {optim.get('weight_decay')}, warmup epochs {optim.get('warmup_epochs')}"]
    else:
        lines.append("- the run's config.yaml was not found; recipe unknown")
    lines += [f"- config hash: `{meta.get('config_hash', 'unknown')}`, code: `{meta.get('code_version', 'unknown')}`",
              ""]
    if meta.get("eval_geometry"):
        lines += ["## Inputs", "", "The geometry the backbone was trained on (use it for evaluation):", "",
                  "```json", json.dumps(meta["eval_geometry"], indent=2, sort_keys=True), "```", ""]
    lines += ["## Evaluation", "", *_monitor_lines(monitor or {}, k, split), *_probe_lines(probes), "",
              "## How to load", "", "```python", "from xmodal.models import from_pretrained", "",
              f'backbone = from_pretrained("{name}")  # this folder', "features = backbone.features(x)", "```", "",
              "## License", "", "Apache-2.0 (the xmodal code and these weights).", ""]
    if title:
        lines += ["## Citation", "", f"{authors}. *{title}.* {venue}. arXiv:{arxiv}.", "",
                  "```bibtex", f"@article{{{key}_{arxiv.replace('.', '_')},", f"  title = {{{title}}},",
                  f"  author = {{{authors.replace(', ', ' and ').replace(' and and ', ' and ')}}},",
                  f"  journal = {{{venue}, arXiv:{arxiv}}},", "}", "```", ""]
    return "\n".join(lines)
