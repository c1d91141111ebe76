"""Runner for supervised cross-modal KD: pretrain the teacher, train each student, select on val, test once.

Per seed (paper: 1, 2, 3; C²KD App. C.2), the teacher is trained on its modality alone (CE, best val epoch),
then every method in ``methods`` trains a student from the same initialisation and batch order (a paired
comparison): ``c2kd`` (:class:`C2KD`) or a baseline kind (:class:`BaselineKD`). The epoch is selected on val
accuracy among epochs ≥ ``select_from`` (the official code looks from epoch 80 of 100); the test split is scored
once, with the selected weights. Results: per-seed rows and mean ± std (population std, as numpy's default that the
official script prints), seconds per epoch and peak accelerator memory per method (App. E Table 3).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import lightning.pytorch as L
import torch
from torch import nn

from xmodal.config import ConfigError, to_dict
from xmodal.eval.selection import mean_std
from xmodal.methods.c2kd import C2KD, C2KDConfig
from xmodal.methods.cmkd_baselines import BaselineKD, BaselineKDConfig
from xmodal.methods.cmkd_data import CropFlipCollate, DistillDataConfig, Splits, load_splits
from xmodal.models.cnn import SmallCNN
from xmodal.models.resnet import resnet18, resnet50
from xmodal.models.shufflenet import shufflenet_v2
from xmodal.models.text import BertClassifier, BertSpec, build_bert, proxy_layer_index
from xmodal.training.optim import OptimConfig

Arch = Literal["resnet18", "resnet50", "shufflenet_v2", "small", "bert"]
Modality = Literal["video", "audio", "image", "text"]
PARTNER: dict[str, str] = {"video": "audio", "audio": "video", "image": "text", "text": "image"}
METHODS = ("c2kd", "none", "kd", "dkd", "dist", "nkd", "fitnets", "review", "shake")
log = logging.getLogger(__name__)


@dataclass
class DistillRunConfig:
    """One ``xmodal distill`` run: data, the two networks, the methods compared and their settings."""

    data: DistillDataConfig = field(default_factory=DistillDataConfig)
    student_modality: Modality = "video"
    student_arch: Arch = "resnet18"
    teacher_arch: Arch = "resnet18"
    small_widths: tuple[int, int, int] = (16, 32, 64)
    text: BertSpec = field(default_factory=BertSpec)  # arch "bert": the config (vocab size and pad id from the data)
    methods: tuple[str, ...] = ("none", "kd", "c2kd")
    c2kd: C2KDConfig = field(default_factory=C2KDConfig)
    baseline: BaselineKDConfig = field(default_factory=BaselineKDConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(optimizer="sgd", lr=1e-2, weight_decay=0.0))
    epochs: int = 100
    teacher_epochs: int = 100
    select_from: int = 80
    batch_size: int = 64
    seeds: tuple[int, ...] = (1, 2, 3)
    accelerator: str = "auto"

    def validate(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ConfigError(f"methods: {unknown or '[]'} not in {list(METHODS)}")
        if self.select_from >= self.epochs or self.select_from >= self.teacher_epochs:
            raise ConfigError("select_from: must be below epochs and teacher_epochs (no epoch would be selectable)")
        if not self.seeds:
            raise ConfigError("seeds: give at least one seed")
        for arch, key in ((self.student_arch, self.student_modality), (self.teacher_arch, self.teacher_modality)):
            if (arch == "bert") != (key == "text"):
                raise ConfigError(f"{'student' if key == self.student_modality else 'teacher'}_arch: {arch} does not "
                                  f"take {key} (bert is the text network; the CNNs take audio, video and images)")

    @property
    def teacher_modality(self) -> str:
        return PARTNER[self.student_modality]


def build_net(arch: Arch, in_channels: int, num_classes: int, widths: tuple[int, int, int]) -> nn.Module:
    """A 2-D CNN (spectrograms; frames stacked into channels, as in the official code; images)."""
    if arch == "resnet18":
        return resnet18(in_channels, num_classes, dims=2)
    if arch == "resnet50":
        return resnet50(in_channels, num_classes, dims=2)
    if arch == "shufflenet_v2":
        return shufflenet_v2("x1_0", in_channels, num_classes)
    if arch == "bert":
        raise ConfigError("arch bert: build it with build_text_net (it needs the vocabulary)")
    return SmallCNN(in_channels, num_classes, dims=2, widths=widths, hidden=(2 * widths[-1], widths[-1]))


def build_text_net(spec: BertSpec, splits: Splits, num_classes: int, pretrained: str | None) -> nn.Module:
    """BERT from ``spec`` with the data's vocabulary size (or the local pretrained directory) and pad id."""
    spec = replace(spec, vocab_size=splits.tokenizer.vocab_size, pretrained=pretrained or spec.pretrained)
    return BertClassifier(build_bert(spec), num_classes, splits.tokenizer.pad_id)


def proxy_layer(arch: Arch, net: nn.Module) -> str:
    """The tapped layer: ResNet ``layer3`` (official), ShuffleNet V2 ``stage3`` and SmallCNN ``block2`` (the
    last-but-one stage, as ``layer3`` is), BERT ``hidden.<i>`` three quarters deep (:func:`proxy_layer_index`)."""
    if arch == "bert":
        return f"hidden.{proxy_layer_index(net.bert)}"  # type: ignore[arg-type]
    return {"small": "block2", "shufflenet_v2": "stage3"}.get(arch, "layer3")


class SelectOnVal(L.Callback):
    """Keep a copy of ``net`` at the best ``val/acc`` epoch ≥ ``select_from`` (ties: the later epoch, as the
    official ``>=``); only the validation loader's metric is read, the test split never reaches the trainer."""

    def __init__(self, net: nn.Module, select_from: int) -> None:
        self.net, self.select_from = net, select_from
        self.best_acc, self.best_epoch, self.best_state = -1.0, -1, None
        self.history: list[float] = []
        self.selected_frac: list[float] = []  # C²KD's on-the-fly selection, per epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        frac = trainer.callback_metrics.get("train/selected_frac")
        if frac is not None:
            self.selected_frac.append(float(frac))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        acc = float(trainer.callback_metrics["val/acc"])
        self.history.append(acc)
        if trainer.current_epoch >= self.select_from and acc >= self.best_acc:
            self.best_acc, self.best_epoch = acc, trainer.current_epoch
            self.best_state = copy.deepcopy(self.net.state_dict())


def train_and_select(module: L.LightningModule, net: nn.Module, train: torch.utils.data.Dataset,
                     val: torch.utils.data.Dataset, epochs: int, select_from: int, batch_size: int, seed: int,
                     accelerator: str, augment: bool = False) -> dict[str, Any]:
    """Fit ``module`` on ``train`` (``augment``: :class:`CropFlipCollate` on the training batches), validate on
    ``val`` each epoch, restore ``net`` to the selected epoch."""
    select = SelectOnVal(net, select_from)
    loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed),
                                         collate_fn=CropFlipCollate(seed) if augment else None)
    val_loader = torch.utils.data.DataLoader(val, batch_size=256)
    trainer = L.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[select])
    cuda = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    module.train()  # Lightning keeps modules' modes; a teacher just scored in eval mode must train in train mode
    start = time.perf_counter()
    trainer.fit(module, loader, val_loader)
    seconds = time.perf_counter() - start
    if select.best_state is None:
        raise RuntimeError(f"no epoch >= {select_from} was validated")
    net.load_state_dict(select.best_state)
    selected = {"selected_frac_per_epoch": select.selected_frac} if select.selected_frac else {}
    return {"selected_epoch": select.best_epoch, "val_acc": 100.0 * select.best_acc, "val_history": select.history,
            "seconds_per_epoch": seconds / epochs, **selected,
            "peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None}


@torch.no_grad()
def accuracy(net: nn.Module, data: dict[str, Any], key: str) -> float:
    net.eval()
    device = next(net.parameters()).device
    preds = torch.cat([net(x.to(device)).argmax(-1).cpu() for x in data[key].split(256)])
    return 100.0 * float((preds == data["label"]).float().mean())


def _student_module(cfg: DistillRunConfig, method: str, student: nn.Module, teacher: nn.Module,
                    example: dict[str, torch.Tensor]) -> C2KD | BaselineKD:
    keys = {"student_key": cfg.student_modality, "teacher_key": cfg.teacher_modality}
    if method == "c2kd":
        c2 = copy.deepcopy(cfg.c2kd)
        c2.student_key, c2.teacher_key = keys["student_key"], keys["teacher_key"]
        c2.student_layer = proxy_layer(cfg.student_arch, student)
        c2.teacher_layer = proxy_layer(cfg.teacher_arch, teacher)
        return C2KD(student, teacher, c2, cfg.optim, example=example, batch_size=cfg.batch_size)
    base = copy.deepcopy(cfg.baseline)
    base.kind, base.student_key, base.teacher_key = method, keys["student_key"], keys["teacher_key"]  # type: ignore
    return BaselineKD(student, None if method == "none" else teacher, base, cfg.optim, example=example,
                      batch_size=cfg.batch_size)


def _net(cfg: DistillRunConfig, arch: Arch, inputs: torch.Tensor, splits: Splits, k: int) -> nn.Module:
    if arch == "bert":
        return build_text_net(cfg.text, splits, k, cfg.data.text_model)
    return build_net(arch, inputs.shape[1], k, cfg.small_widths)


Inspect = Callable[[int, str, nn.Module], None]


def run_seed(cfg: DistillRunConfig, splits: Splits, seed: int, inspect: Inspect | None = None) -> dict[str, Any]:
    """Teacher, then every method's student, for one seed; test accuracy once per network. ``inspect(seed, name,
    net)`` sees each network (``"teacher"`` or the method) at its selected epoch, e.g. to read its val features for
    the MFH diagnostic (:mod:`xmodal.analysis.mfh.distill`)."""
    train, test = splits.data["train"], splits.data["test"]
    k, s_key, t_key = splits.num_classes, cfg.student_modality, cfg.teacher_modality
    if not {s_key, t_key} <= set(splits.modalities):
        raise ConfigError(f"student_modality: {s_key} → needs {s_key} and {t_key}; the data has {splits.modalities}")
    example = {key: train[key][:8] for key in (s_key, t_key)}
    L.seed_everything(seed, verbose=False)
    augment = cfg.data.augment == "crop_flip" and "video" in splits.modalities
    teacher = _net(cfg, cfg.teacher_arch, train[t_key], splits, k)
    t_cfg = BaselineKDConfig(kind="none", student_key=t_key, lr_schedule=cfg.baseline.lr_schedule)
    t_run = train_and_select(BaselineKD(teacher, None, t_cfg, cfg.optim, batch_size=cfg.batch_size), teacher,
                             splits.dataset("train"), splits.dataset("val"), cfg.teacher_epochs, cfg.select_from,
                             cfg.batch_size, seed, cfg.accelerator, augment)
    out: dict[str, Any] = {"seed": seed, "teacher": {**t_run, "test_acc": accuracy(teacher, test, t_key)}}
    if inspect is not None:
        inspect(seed, "teacher", teacher)
    pretrained = copy.deepcopy(teacher.state_dict())
    for method in cfg.methods:
        teacher.load_state_dict(pretrained)  # C²KD trains its teacher: every method starts from the same one
        torch.manual_seed(seed + 1)
        student = _net(cfg, cfg.student_arch, train[s_key], splits, k)
        module = _student_module(cfg, method, student, teacher, example)
        run = train_and_select(module, student, splits.dataset("train"), splits.dataset("val"), cfg.epochs,
                               cfg.select_from, cfg.batch_size, seed + 1, cfg.accelerator, augment)
        module.remove_taps()
        out[method] = {**run, "test_acc": accuracy(student, test, s_key)}
        if inspect is not None:
            inspect(seed, method, student)
        log.info("seed %d %s: val %.2f test %.2f", seed, method, run["val_acc"], out[method]["test_acc"])
    return out


def run_distill(cfg: DistillRunConfig, splits: Splits | None = None, inspect: Inspect | None = None
                ) -> dict[str, Any]:
    """All seeds; returns the config, the splits' provenance, per-seed results and mean ± std per method."""
    cfg.validate()
    splits = splits or load_splits(cfg.data)
    runs = [run_seed(cfg, splits, s, inspect) for s in cfg.seeds]
    summary = {}
    for name in ("teacher", *cfg.methods):
        mean, std = mean_std([r[name]["test_acc"] for r in runs])
        spe = mean_std([r[name]["seconds_per_epoch"] for r in runs])[0]
        peaks = [r[name]["peak_memory_mb"] for r in runs if r[name]["peak_memory_mb"] is not None]
        summary[name] = {"test_mean": mean, "test_std": std, "seconds_per_epoch": spe,
                         "peak_memory_mb": max(peaks) if peaks else None}
    return {"config": to_dict(cfg), "val_source": splits.val_source, "splits": splits.meta, "seeds": runs,
            "summary": summary}
