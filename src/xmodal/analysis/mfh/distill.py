"""The KD-efficacy diagnostic next to a supervised cross-modal KD run (C²KD's trainer), for any modality pair.

:func:`distill_with_diagnostic` runs :func:`xmodal.methods.cmkd_run.run_distill` and, per seed, reads the
penultimate features and logits of the two *unimodal* networks — the teacher and the no-KD student (method
``none``) — on the validation split, then calls :func:`xmodal.analysis.mfh.diagnostic.diagnose`: γ̂ and whether
crossmodal KD is predicted to help, from what a user has before running KD (never the test split). The
penultimate feature is the input of the network's classifier (``head`` of SmallCNN, ``fc`` of ResNet and ShuffleNet
V2, ``classifier`` of BERT), so image, text, audio and video networks are read the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from xmodal.analysis.mfh.diagnostic import DEFAULT_THRESHOLD, diagnose
from xmodal.methods.cmkd_data import Splits
from xmodal.methods.cmkd_run import DistillRunConfig, run_distill
from xmodal.models.taps import resolve

CLASSIFIER_NAMES = ("head", "fc", "classifier")


def classifier(net: nn.Module) -> nn.Module:
    """The final linear layer whose input is the penultimate feature."""
    for name in CLASSIFIER_NAMES:
        if hasattr(net, name):
            return resolve(net, name)
    raise KeyError(f"{type(net).__name__} has none of the classifier layers {CLASSIFIER_NAMES}")


@torch.no_grad()
def penultimate(net: nn.Module, x: torch.Tensor, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits) of an eval-mode network, the features read by a pre-hook on its classifier."""
    was = net.training
    net.eval()
    seen: list[torch.Tensor] = []
    handle = classifier(net).register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0].detach()))
    try:
        logits = torch.cat([net(part) for part in x.split(chunk)])
    finally:
        handle.remove()
        net.train(was)
    return torch.cat(seen).flatten(1).numpy(), logits.numpy()


def distill_with_diagnostic(cfg: DistillRunConfig, splits: Splits, threshold: float = DEFAULT_THRESHOLD
                            ) -> dict[str, Any]:
    """``run_distill`` plus ``result["diagnostic"]``: per seed r_a, r_b, γ̂ and the prediction, and their mean."""
    if "none" not in cfg.methods:
        raise ValueError("methods: the diagnostic needs the no-KD student ('none')")
    val = splits.data["val"]
    outputs: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}

    def inspect(seed: int, name: str, net: nn.Module) -> None:
        if name in ("teacher", "none"):
            key = cfg.teacher_modality if name == "teacher" else cfg.student_modality
            outputs.setdefault(seed, {})[name] = penultimate(net, val[key])

    result = run_distill(cfg, splits, inspect)
    per_seed = []
    for seed in cfg.seeds:
        (feat_t, logit_t), (feat_s, logit_s) = outputs[seed]["teacher"], outputs[seed]["none"]
        d = diagnose(feat_t, feat_s, logit_t, logit_s, threshold, seed=seed)
        per_seed.append({"seed": seed, "r_a": d.r_a, "r_b": d.r_b, "gamma_hat": d.gamma_hat,
                         "kd_predicted_to_help": d.kd_predicted_to_help})
    gamma_hat = float(np.mean([p["gamma_hat"] for p in per_seed]))
    result["diagnostic"] = {"per_seed": per_seed, "gamma_hat": gamma_hat, "threshold": threshold,
                            "kd_predicted_to_help": gamma_hat > threshold, "split": "val"}
    return result


def image_text_ladder(work_dir: str, gammas: tuple[float, ...] = (0.0, 0.5, 1.0), samples: int = 600,
                      overrides: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The synthetic image–text benchmark across γ: for each γ, T→I and I→T with the shipped configs
    (``c2kd/synthetic_image_text_{t2i,i2t}`` plus ``overrides``), each with its diagnostic. One row per (γ,
    direction): the true γ, γ̂, the prediction, and test accuracy mean ± std per method."""
    from pathlib import Path

    from xmodal.config import load_config
    from xmodal.configs import config_path
    from xmodal.data.synth.image_text import ImageTextConfig, generate_image_text, levels_for_gamma
    from xmodal.methods.cmkd_data import load_splits

    rows = []
    for gamma in gammas:
        g, i, t = levels_for_gamma(gamma)
        bench = ImageTextConfig(samples=samples, general_levels=g, image_levels=i, text_levels=t)
        manifest = generate_image_text(bench, Path(work_dir) / f"gamma_{gamma:.3f}")
        splits = None
        for direction in ("t2i", "i2t"):
            cfg = load_config(DistillRunConfig, config_path(f"c2kd/synthetic_image_text_{direction}"),
                              [f"data.manifest={manifest}", *overrides])
            splits = splits or load_splits(cfg.data)  # one decode and one vocabulary for both directions
            result = distill_with_diagnostic(cfg, splits)
            rows.append({"gamma": bench.shares()["gamma"], "levels": [g, i, t], "direction": direction,
                         "classes": bench.num_classes, **{k: result["diagnostic"][k]
                                                          for k in ("gamma_hat", "kd_predicted_to_help")},
                         "summary": result["summary"], "seeds": result["seeds"], "sizes": result["splits"]["sizes"],
                         "diagnostic": result["diagnostic"]})
    return rows
