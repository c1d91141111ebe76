"""The pretraining run every self-supervised method shares (XKD, MAViL, XDC): seed, build, fit with resume, export.

The trainer itself (Lightning, atomic checkpoints, resume rules) lives one layer down in :mod:`xmodal.training`,
where fine-tuning uses it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import torch
from lightning.pytorch.callbacks import Callback

from xmodal.models.hub import export_run
from xmodal.models.vit import compile_blocks
from xmodal.training.trainer import TrainerConfig, build_trainer, fit


def run_pretraining(
    trainer_cfg: TrainerConfig,
    out_dir: str | Path,
    run_config: Any,
    build: Callable[[], tuple[L.LightningModule, Any]],
    export: Callable[[L.LightningModule, Path], dict[str, str]],
    callbacks: list[Callback] | None = None,
) -> dict[str, Any]:
    """The shared pretraining run of every method: seed, ``build()`` the method and its training loader, fit with
    resume (:func:`fit`), then ``export(method, out_dir / "export")`` on rank 0 and the same backbones as Hugging
    Face-style folders with model cards in ``out_dir / "hf"`` (:func:`xmodal.models.hub.export_run`). Returns the
    run summary."""
    L.seed_everything(trainer_cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")
    out = Path(out_dir)
    method, loader = build()
    if trainer_cfg.compile:
        compile_blocks(method)
    trainer = build_trainer(trainer_cfg, out, run_config, callbacks=callbacks)
    start = time.perf_counter()
    resumed = fit(trainer, method, loader, out, resume=trainer_cfg.resume, run_config=run_config)
    elapsed = time.perf_counter() - start
    exports = export(method, out / "export") if trainer.is_global_zero else {}
    shared = export_run(out, out / "hf") if exports else {}
    return {"out_dir": str(out), "resumed_from": str(resumed) if resumed else None, "train_seconds": elapsed,
            "steps": trainer.global_step, "exports": exports, "hf_exports": shared,
            "skipped": getattr(method, "skip_reports", []), "method": method}
