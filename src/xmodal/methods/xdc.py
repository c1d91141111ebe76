"""XDC and its deep-clustering family on :class:`BaseMethod` (Alwassel et al., NeurIPS 2020, arXiv 1911.12667).

The iteration (XDC appendix §A) runs inside one Lightning fit, so the engine's checkpoints, DDP and resume apply:

- at the start of an epoch that begins an iteration (the first one included), :meth:`XDC.recluster` extracts the
  features of every training clip (each process a shard, gathered), runs faiss k-means on rank 0 for every label
  source the variant needs, broadcasts the pseudo-labels, resets the classification heads (weights and optimizer
  state) and restarts the per-iteration learning-rate schedule;
- every step trains each encoder's heads with cross-entropy on the pseudo-labels :data:`ROUTES` assigns it (XDC:
  audio clusters supervise video and vice versa; SDC: own modality; MDC: both; CDC: clusters of both concatenated);
- at the end of every epoch the loss on held-out pseudo-labelled clips is measured; after ``patience`` increases in a
  row (Table 1's e-stop) or ``cluster.epochs`` epochs, the iteration ends and the next epoch re-clusters.

Pseudo-labels are buffers and the iteration counters are saved with every checkpoint, so a killed run resumes in
the right iteration with the right labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset

from xmodal.data.collate import collate_samples
from xmodal.distributed import all_reduce_sum, rank, world_size
from xmodal.methods.base import BaseMethod
from xmodal.methods.xdc_cluster import (
    EarlyStopping,
    broadcast_labels,
    cluster_stats,
    gather_rows,
    heads_for,
    label_sources,
    purity_report,
    run_kmeans,
    source_features,
)
from xmodal.methods.xdc_config import XDCConfig
from xmodal.methods.xdc_data import XDCData, handcrafted_features
from xmodal.models.resnet import BasicBlock, ResNet
from xmodal.models.video_resnet import VideoResNet


def build_encoder(cfg: XDCConfig, modality: str) -> nn.Module:
    m = cfg.model
    if modality == "video":
        return VideoResNet(m.video_arch, m.video_layers, widths=m.widths)
    return ResNet(BasicBlock, m.audio_layers, in_channels=1, num_classes=0, dims=2, widths=m.widths)


class XDC(BaseMethod):
    """One code path for XDC / SDC / MDC / CDC (``cfg.cluster.variant``); :meth:`attach` gives it its data."""

    def __init__(self, cfg: XDCConfig, num_clips: int) -> None:
        super().__init__(cfg.optim, batch_size=cfg.trainer.batch_size)
        c = cfg.cluster
        self.cfg = cfg
        self.routes = heads_for(c.variant, c.modalities)
        self.sources = label_sources(c.variant, c.modalities)
        self.encoders = nn.ModuleDict({m: build_encoder(cfg, m) for m in c.modalities})
        self.heads = nn.ModuleDict({f"{enc}_{src}": nn.Linear(self.encoders[enc].feature_dim, c.k(src))
                                    for enc, srcs in self.routes.items() for src in srcs})
        for src in self.sources:
            self.register_buffer(f"labels_{src}", torch.full((num_clips,), -1, dtype=torch.long))
        self.register_buffer("train_rows", torch.arange(num_clips))
        self.register_buffer("held_rows", torch.zeros(0, dtype=torch.long))
        self.data: XDCData | None = None
        self.iteration, self.iter_epoch, self.iter_start_step, self.need_cluster = 0, 0, 0, True
        self.stopper = EarlyStopping(c.patience)
        self.history: list[dict[str, Any]] = []
        self.reports: dict[str, list[dict[str, Any]]] = {}

    def attach(self, data: XDCData) -> None:
        """The datasets of :func:`xmodal.methods.xdc_data.build_data` (clustering, held-out, row maps)."""
        self.data = data
        self.train_rows = torch.as_tensor(data.train_rows, dtype=torch.long)
        self.held_rows = torch.as_tensor(data.held_rows, dtype=torch.long)

    def labels(self, source: str) -> torch.Tensor:
        return getattr(self, f"labels_{source}")

    # ----------------------------------------------------------------- training
    def compute_losses(self, batch: dict[str, Any], stage: str) -> dict[str, torch.Tensor]:
        rows = self.train_rows[batch["index"].to(self.train_rows.device)]
        return self._losses(batch, rows)

    def _losses(self, batch: dict[str, Any], rows: torch.Tensor) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        for enc, srcs in self.routes.items():
            feats = self.encoders[enc].features(batch[enc])
            for src in srcs:
                target = self.labels(src)[rows]
                terms[f"ce_{enc}_{src}"] = F.cross_entropy(self.heads[f"{enc}_{src}"](feats), target, ignore_index=-1)
        return terms

    def configure_optimizers(self) -> Any:
        """BaseMethod's optimizer with Table 2's schedule restarted at every iteration: linear warm-up over
        ``warmup_epochs``, then ×γ every ``step_epochs`` epochs counted after the warm-up."""
        out = super().configure_optimizers()
        c, trainer = self.cfg.cluster, self.trainer
        per_epoch = max(1, int(trainer.estimated_stepping_batches) // max(1, trainer.max_epochs or 1))

        def factor(step: int) -> float:
            s = step - self.iter_start_step
            warm = c.warmup_epochs * per_epoch
            if s < warm:
                return (s + 1) / warm
            return c.gamma ** ((s - warm) // (c.step_epochs * per_epoch))

        out["lr_scheduler"]["scheduler"] = torch.optim.lr_scheduler.LambdaLR(out["optimizer"], factor)
        return out

    # ----------------------------------------------------------------- the iteration
    def on_train_epoch_start(self) -> None:
        if self.need_cluster and self.iteration < self.cfg.cluster.iterations:
            stats = self.recluster()
            self.log_dict({f"cluster/{k}": v for k, v in stats.items()}, on_epoch=True, on_step=False)

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        c = self.cfg.cluster
        self.iter_epoch += 1
        loss = self.heldout_loss()
        self.log("xdc/heldout_loss", loss, on_epoch=True)
        self.log("xdc/iteration", float(self.iteration), on_epoch=True)
        stop = self.stopper.step(loss) if c.early_stop else False
        if stop or self.iter_epoch >= c.epochs:
            self.history[-1].update(epochs=self.iter_epoch, heldout_loss=loss, early_stopped=stop)
            self.iteration += 1
            self.need_cluster = True
            if self.iteration >= c.iterations:
                self.trainer.should_stop = True

    def _shard(self, dataset: Any) -> DataLoader:
        rows = list(range(rank(), len(dataset), world_size()))
        return DataLoader(Subset(dataset, rows), batch_size=self.cfg.cluster.extract_batch_size, shuffle=False,
                          num_workers=0, collate_fn=collate_samples)

    @torch.no_grad()
    def extract(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Features of every clip (rows in global order; NaN rows for undecodable clips) and the rows present.

        The first iteration with ``init=handcrafted`` reads hand-crafted descriptors instead of the encoders."""
        assert self.data is not None, "XDC.attach(data) before training"
        hand = self.cfg.cluster.init == "handcrafted" and self.iteration == 0
        was = self.training
        self.encoders.eval()
        idx, feats = [], {m: [] for m in self.encoders}
        for batch in self._shard(self.data.cluster):
            if "index" not in batch:
                continue
            idx.append(batch["index"].to(self.device))
            for m, enc in self.encoders.items():
                x = batch[m].to(self.device)
                feats[m].append(handcrafted_features({m: x}, m) if hand else enc.features(x).float())
        self.encoders.train(was)
        rows = gather_rows(torch.cat(idx) if idx else torch.zeros(0, dtype=torch.long, device=self.device))
        n = self.labels(self.sources[0]).shape[0]
        out = {}
        for m, parts in feats.items():
            local = torch.cat(parts) if parts else torch.zeros(0, 1, device=self.device)
            full = np.full((n, local.shape[1]), np.nan, dtype=np.float32)
            full[rows.cpu().numpy()] = gather_rows(local).cpu().numpy()
            out[m] = full
        present = np.unique(rows.cpu().numpy())
        return out, present

    def recluster(self) -> dict[str, float]:
        """k-means on rank 0 for every label source, broadcast, reset heads, restart the schedule."""
        c = self.cfg.cluster
        feats, present = self.extract()
        stats: dict[str, float] = {"iteration": float(self.iteration), "clips_missing": float(
            self.labels(self.sources[0]).shape[0] - len(present))}
        record: dict[str, Any] = {"iteration": self.iteration}
        for i, src in enumerate(self.sources):
            k = c.k(src)
            labels = torch.full_like(self.labels(src), -1)
            reseeded = torch.zeros(1, dtype=torch.long, device=labels.device)
            if rank() == 0:
                res = run_kmeans(source_features(feats, src)[present], k, c.kmeans,
                                 seed=self.cfg.trainer.seed + 1000 * self.iteration + i)
                labels[torch.as_tensor(present, device=labels.device)] = torch.as_tensor(res.labels,
                                                                                         device=labels.device)
                reseeded += res.reseeded
            labels = broadcast_labels(labels)
            stats[f"{src}/reseeded"] = float(broadcast_labels(reseeded))
            previous = self.labels(src).cpu().numpy()[present] if self.iteration > 0 else None
            new = labels.cpu().numpy()[present]
            truth = self.data.truth[present] if self.data is not None else None
            for key, value in cluster_stats(new, k, previous, truth).items():
                stats[f"{src}/{key}"] = value
            if truth is not None and (truth >= 0).any():
                names = self.data.classes if self.data is not None else None
                self.reports[src] = purity_report(new[truth >= 0], truth[truth >= 0], names)
            self.labels(src).copy_(labels)
        record.update(stats)
        self.history.append(record)
        self.reset_heads()
        self.iter_epoch, self.need_cluster, self.iter_start_step = 0, False, self.global_step
        self.stopper.reset()
        return stats

    def reset_heads(self) -> None:
        """Fresh heads (identical on every rank: drawn on CPU from ``(seed, iteration)``) and no stale momentum."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.trainer.seed * 7919 + self.iteration)
            for head in self.heads.values():
                fresh = nn.Linear(head.in_features, head.out_features)
                with torch.no_grad():
                    head.weight.copy_(fresh.weight)
                    head.bias.copy_(fresh.bias)
        trainer = self._trainer
        if trainer is not None:
            for opt in trainer.optimizers:
                for p in self.heads.parameters():
                    opt.state.pop(p, None)

    @torch.no_grad()
    def heldout_loss(self) -> float:
        """Mean cross-entropy (summed over heads) on the held-out clips, over all processes, in eval mode."""
        assert self.data is not None, "XDC.attach(data) before training"
        was = self.training
        self.eval()
        total = torch.zeros(2, device=self.device, dtype=torch.float64)
        for batch in self._shard(self.data.held):
            if "index" not in batch:
                continue
            rows = self.held_rows[batch["index"].to(self.device)]
            inputs = {m: batch[m].to(self.device) for m in self.encoders}
            terms = self._losses(inputs, rows)
            loss = sum(terms.values())
            total += torch.tensor([float(loss) * len(rows), len(rows)], device=self.device, dtype=torch.float64)
        self.train(was)
        total = all_reduce_sum(total)
        return float(total[0] / total[1].clamp_min(1))

    # ----------------------------------------------------------------- resume
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["xdc"] = {"iteration": self.iteration, "iter_epoch": self.iter_epoch,
                             "iter_start_step": self.iter_start_step, "need_cluster": self.need_cluster,
                             "stopper": self.stopper.state_dict(), "history": self.history}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["xdc"]
        self.iteration, self.iter_epoch = state["iteration"], state["iter_epoch"]
        self.iter_start_step, self.need_cluster = state["iter_start_step"], state["need_cluster"]
        self.stopper.load_state_dict(state["stopper"])
        self.history = list(state["history"])
