"""Builds the Lightning ``Trainer`` every method runs under, and runs a fit with auto-resume.

The engine is Lightning's (DDP across GPUs and nodes, bf16, progress bars, loggers); xmodal adds atomic
checkpoints, safe loading (``weights_only=True``), the resolved config and code version saved next to and
inside every checkpoint, resume from ``<out>/checkpoints/last.ckpt`` when it exists and was trained under the same
config (:mod:`xmodal.training.resume`), and the dataset epoch bound to the trainer's
(:class:`xmodal.data.loader.EpochDataLoader`).
"""

from __future__ import annotations

import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint, RichProgressBar, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.environments import SLURMEnvironment

from xmodal.config import ConfigError, code_version, config_hash, to_dict
from xmodal.data.loader import EpochDataLoader
from xmodal.training.checkpoint import AtomicCheckpointIO
from xmodal.training.resume import check_resume, config_defaults, record_resume


@dataclass
class TrainerConfig:
    """Engine settings; ``devices``/``num_nodes`` map to Lightning (torchrun and SLURM set the rest).

    ``compile`` compiles every Transformer block with ``torch.compile`` before training
    (:func:`xmodal.models.vit.compile_blocks`). ``precision=bf16-mixed`` is bf16 autocast. FSDP is not offered:
    Lightning runs it on GPUs only, so it could not be tested here, and the EMA teachers of XKD and MAViL are
    updated from the students' full (unsharded) parameters; DDP is the tested multi-GPU strategy."""

    max_epochs: int = 10
    max_steps: int = -1
    batch_size: int = 32
    num_workers: int = 2
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: Literal["auto", "ddp", "ddp_find_unused_parameters_true"] = "auto"
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    accumulate_grad_batches: int = 1
    sync_batchnorm: bool = True
    checkpoint_every_n_steps: int = 200
    log_every_n_steps: int = 10
    seed: int = 0
    progress: Literal["rich", "tqdm", "none"] = "rich"
    resume: Literal["auto", "force", "off"] = "auto"
    compile: bool = False

    def validate(self) -> None:
        if self.batch_size <= 0:
            raise ConfigError("batch_size: must be positive")
        if self.max_epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("max_epochs: set max_epochs or max_steps")


class SaveRunInfo(Callback):
    """Writes ``config.yaml`` beside the checkpoints (once: a resumed run keeps the config it started with, and its
    changes go to ``resumes.yaml``) and stores config + code version inside each checkpoint."""

    def __init__(self, out_dir: Path, config: Any) -> None:
        self.out_dir = out_dir
        self.info = {"config": to_dict(config), "config_hash": config_hash(config), "code_version": code_version()}

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        target = self.out_dir / "config.yaml"
        if trainer.is_global_zero and not target.exists():
            self.out_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.safe_dump(self.info, sort_keys=False))

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["xmodal"] = self.info


class LoaderState(Callback):
    """Keeps a resumable training loader's mid-epoch state in every checkpoint and hands it back on restore.

    Why not Lightning's own stateful-loader support: it restores the loader only when it sets the data up after
    loading the checkpoint, but ``estimated_stepping_batches`` (in ``configure_optimizers``) sets it up before, so
    the saved state would be ignored and a resumed epoch would start again from its first batch. Callback states
    are restored before the first batch is drawn."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    @property
    def state_key(self) -> str:
        return "xmodal_train_loader"

    def state_dict(self) -> dict[str, Any]:
        return self.loader.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.loader.load_state_dict(state_dict)


def find_resume_checkpoint(out_dir: Path) -> Path | None:
    last = out_dir / "checkpoints" / "last.ckpt"
    return last if last.is_file() else None


def resolve_sync_batchnorm(cfg: TrainerConfig) -> bool:
    """SyncBatchNorm only on GPUs: PyTorch's DDP refuses it on CPU ("SyncBatchNorm layers only work with GPU
    modules"), so a gloo/CPU run keeps per-process BatchNorm statistics (its running buffers are still broadcast
    from rank 0 by DDP) instead of crashing at setup."""
    if not cfg.sync_batchnorm:
        return False
    on_gpu = cfg.accelerator in ("gpu", "cuda") or (cfg.accelerator == "auto" and torch.cuda.is_available())
    multi_process = cfg.strategy != "auto" or cfg.devices not in (1, "1", "auto") or cfg.num_nodes > 1
    if not on_gpu and multi_process:
        warnings.warn("trainer.sync_batchnorm: ignored on CPU (PyTorch supports SyncBatchNorm on GPUs only); "
                      "BatchNorm statistics stay per process", stacklevel=2)
    return on_gpu


def build_trainer(
    cfg: TrainerConfig, out_dir: str | Path, run_config: Any, callbacks: list[Callback] | None = None
) -> L.Trainer:
    # EMA teachers are in eval mode on purpose (BaseMethod: deterministic teachers); Lightning's generic notice
    # about modules in eval mode would only alarm users of every distillation method.
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")
    out = Path(out_dir)
    ckpt = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="step{step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=cfg.checkpoint_every_n_steps,
        save_last=True,
        save_top_k=1,
        save_on_train_epoch_end=True,
    )
    progress: list[Callback] = {
        "rich": [RichProgressBar(leave=True)],
        "tqdm": [TQDMProgressBar()],
        "none": [],
    }[cfg.progress]
    plugins: list[Any] = [AtomicCheckpointIO()]
    if SLURMEnvironment.detect():
        plugins.append(SLURMEnvironment(requeue_signal=signal.SIGUSR1))
    trainer = L.Trainer(
        default_root_dir=str(out),
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        sync_batchnorm=resolve_sync_batchnorm(cfg),
        log_every_n_steps=cfg.log_every_n_steps,
        logger=[TensorBoardLogger(str(out), name="tb", version=""), CSVLogger(str(out), name="csv", version="")],
        callbacks=[ckpt, LearningRateMonitor("step"), SaveRunInfo(out, run_config), *progress, *(callbacks or [])],
        plugins=plugins,
        enable_progress_bar=cfg.progress != "none",
        use_distributed_sampler=True,
        num_sanity_val_steps=0,
    )
    return trainer


def fit(
    trainer: L.Trainer,
    module: L.LightningModule,
    train_loader: Any,
    out_dir: str | Path,
    val_loader: Any = None,
    resume: Literal["auto", "force", "off"] = "auto",
    run_config: Any = None,
) -> Path | None:
    """Fit with auto-resume from ``last.ckpt``; returns the checkpoint resumed from (or None).

    With ``run_config`` (the resolved config dataclass) the checkpoint's stored config must match it outside the
    free keys (:func:`xmodal.training.resume.check_resume`) unless ``resume="force"``; the accepted changes are
    appended to ``resumes.yaml``. A run killed while saving leaves its previous checkpoint intact plus a partial
    ``.<name>.tmp`` file; those are removed here (rank 0) before training restarts. An
    :class:`~xmodal.data.loader.EpochDataLoader` is bound to the trainer's epoch, and a
    :class:`~xmodal.data.shard_dataset.ShardLoader` to its count of processed batches (what a mid-epoch checkpoint
    has trained on; the batch Lightning prefetched is not counted).
    """
    out = Path(out_dir)
    ckpt = find_resume_checkpoint(out) if resume != "off" else None
    if ckpt is not None and run_config is not None:
        diff = check_resume(ckpt, to_dict(run_config), resume, config_defaults(run_config))
        if trainer.is_global_zero:
            record_resume(out, ckpt, diff)
    if trainer.is_global_zero:
        for stale in (out / "checkpoints").glob(".*.tmp"):
            stale.unlink(missing_ok=True)
    if isinstance(train_loader, EpochDataLoader) and train_loader.epoch_source is None:
        train_loader.epoch_source = lambda: trainer.current_epoch
    if getattr(train_loader, "progress_source", False) is None:  # a resumable ShardLoader: batches trained so far
        train_loader.progress_source = lambda: trainer.fit_loop.epoch_loop.batch_progress.current.processed
        trainer.callbacks.append(LoaderState(train_loader))
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    return ckpt
