"""Fine-tuning on the pretraining engine: one ``Trainer`` from :func:`xmodal.training.trainer.build_trainer`.

Why the same engine: a 100-epoch preset (xkd Tables S6–S7, mavil Table 10) needs what pretraining already has —
a progress bar, TensorBoard + CSV logs, atomic checkpoints (``<out>/checkpoints/last.ckpt`` every
``checkpoint_every_n_steps`` and each epoch), auto-resume of a killed run under the same config, DDP over
devices and nodes — and keeping one engine means a fix there is a fix here. What is fine-tuning specific:

* the resume check compares :class:`FinetuneRun`: the preset after overrides (``finetune.*``), the engine
  (``trainer.*``; ``trainer.max_epochs``/``max_steps``/progress/workers may change, see
  :data:`xmodal.training.resume.FREE_KEYS`) and the inputs (backbone and manifest sha256, seed, geometry, head), so
  re-running a command with another learning rate or backbone in the same ``--out`` refuses instead of silently
  continuing the old run;
* ``last.ckpt`` is also written at the end of every epoch (:class:`EpochEndCheckpoint`), since a fine-tuning
  epoch is short and a killed run should lose at most one;
* after ``fit`` the same trainer tests once on the test loader; metrics are gathered over every process
  (:class:`xmodal.eval.gathered.GatheredPredictions`), so each rank returns the whole test set's numbers.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as L
from lightning.pytorch.callbacks import Callback

from xmodal.eval.finetune_config import FinetuneConfig
from xmodal.training.trainer import TrainerConfig, build_trainer, fit


@dataclass
class FinetuneRun:
    """Everything that decides what a fine-tuning run learns (stored in and checked against its checkpoints)."""

    finetune: FinetuneConfig
    trainer: TrainerConfig
    inputs: dict[str, Any] = field(default_factory=dict)


class EpochEndCheckpoint(Callback):
    """Save ``path`` (through the trainer: atomic I/O, the run config inside, every rank taking part) at the end of
    each training epoch, where Lightning's own ``ModelCheckpoint`` saves too, so a resume starts the next epoch."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path)


def trainer_config(cfg: FinetuneConfig, **fields: Any) -> TrainerConfig:
    """Engine settings for a preset: its epochs and batch size, one device and no progress bar unless ``fields``
    (:class:`TrainerConfig` names) say otherwise; a multi-device run is always asked for explicitly."""
    base: dict[str, Any] = {"max_epochs": cfg.epochs, "batch_size": cfg.batch_size, "devices": 1, "num_workers": 0,
                            "progress": "none", "checkpoint_every_n_steps": 500}
    return TrainerConfig(**{**base, **fields})


def fit_and_test(module: L.LightningModule, train_loader: Any, test_loader: Any, tcfg: TrainerConfig,
                 out_dir: str | Path | None = None, run_config: Any = None) -> dict[str, float]:
    """Fit with auto-resume from ``<out_dir>/checkpoints/last.ckpt`` (checked against ``run_config``), then test;
    returns ``module.last_metrics``. ``module.resumed_from`` is the checkpoint resumed from (or None). Without
    ``out_dir`` the run writes to a temporary folder and never resumes."""
    tcfg.validate()
    with ExitStack() as stack:
        resume = tcfg.resume
        if out_dir is None:
            out_dir, resume = stack.enter_context(tempfile.TemporaryDirectory(prefix="xmodal-finetune-")), "off"
        last = Path(out_dir) / "checkpoints" / "last.ckpt"
        trainer = build_trainer(tcfg, out_dir, run_config if run_config is not None else tcfg,
                                callbacks=[EpochEndCheckpoint(last)])
        module.resumed_from = fit(trainer, module, train_loader, out_dir, resume=resume, run_config=run_config)
        trainer.test(module, test_loader, verbose=False)
    return dict(module.last_metrics)  # type: ignore[arg-type]
