"""Fine-tuning test metrics under 2-process gloo equal the single-process metrics on the whole test set.

Each rank holds a shard as ``DistributedSampler`` deals it: unequal halves, the last one padded with a repeat of
sample 0. ``GatheredPredictions`` (torchmetrics states, all-gathered in ``compute``) must give the metrics of
the 11 distinct samples on every rank, also when one rank saw no sample at all; ``FineTuner.test`` must report
them, not the metrics of its own shard.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning.pytorch as L
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from linear_backbone import LinearBackbone  # tests/eval is on sys.path (rootdir-relative test imports)
from torch.utils.data import DataLoader

from xmodal.eval.finetune import AVClassifier, FineTuner
from xmodal.eval.finetune_config import finetune_preset
from xmodal.eval.gathered import GatheredPredictions
from xmodal.eval.selection import score_predictions

WORLD, N, C = 2, 11, 6
SHARDS = ([0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 0])  # rank 1 padded with a repeat of sample 0


def _problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(N, C, generator=g)
    single = scores.argmax(1)
    single[6:] = (single[6:] + 1) % C  # rank 1's own samples are all misclassified
    multi = (torch.rand(N, C, generator=g) < 0.4).long()
    return scores, single, multi


def _finetuner() -> tuple[FineTuner, torch.Tensor, torch.Tensor]:
    """A fixed classifier and inputs; labels: rank 0's samples right, rank 1's own samples wrong."""
    torch.manual_seed(0)
    module = FineTuner(AVClassifier({"video": LinearBackbone(4, 4)}, C), finetune_preset("xkd-ucf101"), num_classes=C)
    x = torch.randn(N, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pred = module.model({"video": x}).argmax(1)
    labels = torch.where(torch.arange(N) < 6, pred, (pred + 1) % C)
    return module, x, labels


def _finetune_test(module: FineTuner, x: torch.Tensor, labels: torch.Tensor, rows: list[int]) -> dict[str, float]:
    samples = [{"video": x[i], "label": labels[i], "index": i} for i in rows]
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.test(module, DataLoader(samples, batch_size=4), verbose=False)
    return dict(module.last_metrics)


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        scores, single, multi = _problem()
        rows = SHARDS[rank]
        got = {}
        for name, labels in (("single", single), ("multi", multi)):
            metric = GatheredPredictions()
            for part in (rows[:4], rows[4:]):  # two batches of unequal size
                metric.update(scores[part], labels[part], torch.tensor(part))
            got[name] = metric.compute()
        empty = GatheredPredictions()  # rank 1 saw nothing: rank 0 must not wait for it forever
        if rank == 0:
            empty.update(scores, single, torch.arange(N))
        got["one_rank_empty"] = empty.compute()
        module, x, labels = _finetuner()
        got["finetuner"] = _finetune_test(module, x, labels, rows)
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(got))
    finally:
        dist.destroy_process_group()


def test_gathered_metrics_equal_the_whole_test_set(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    scores, single, multi = _problem()
    want_single = score_predictions(scores.numpy(), single.numpy())[0]
    want_multi = score_predictions(scores.numpy(), multi.numpy())[0]
    module, x, labels = _finetuner()
    want_finetuner = _finetune_test(module, x, labels, list(range(N)))
    assert want_finetuner["top1"] == pytest.approx(6 / 11)  # 6 of 11 right; 7/12 with the padded repeat
    for rank in range(WORLD):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got["single"] == pytest.approx(want_single)
        assert got["multi"] == pytest.approx(want_multi)
        assert got["one_rank_empty"] == pytest.approx(want_single)
        assert got["finetuner"] == pytest.approx(want_finetuner)


def test_single_process_metrics_and_padding_rows() -> None:
    scores, single, _ = _problem()
    metric = GatheredPredictions()
    assert metric.compute() == {}
    metric.update(scores[:7], single[:7], torch.arange(7))
    metric.update(scores[:2], single[:2], torch.arange(2))  # a padded repeat changes nothing
    assert metric.compute() == pytest.approx(score_predictions(scores[:7].numpy(), single[:7].numpy())[0])
    metric.reset()
    metric.update(scores[:3], single[:3])  # no index: every row counts
    metric.update(scores[:3], single[:3])
    rows = np.r_[0:3, 0:3]
    assert metric.compute() == pytest.approx(score_predictions(scores.numpy()[rows], single.numpy()[rows])[0])
    with pytest.raises(ValueError, match="3 score rows but 2 labels"):
        metric.update(scores[:3], single[:2])
