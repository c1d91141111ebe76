"""``data.augment_on=device``: XKD pretraining receives the views built after the batch transfer, equal to the CPU
views of the same rows, epoch and seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as L
import torch

from xmodal.methods.pretrain import pretrain
from xmodal.methods.pretrain_data import build_train_dataset


class Record(L.Callback):
    """Per row, the global video and local audio views the model was fed."""

    def __init__(self) -> None:
        self.views: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, idx: int) -> None:
        assert "draws" not in batch and "decoded" not in batch
        for b, i in enumerate(batch["index"].tolist()):
            self.views[i] = (batch["video"]["global"][b].clone(), batch["audio"]["local"][0][b].clone())


def test_pretraining_with_views_on_device_sees_the_cpu_views(tmp_path: Path, synth_manifest: Path,
                                                            make_cfg: Any) -> None:
    cfg = make_cfg("data.augment_on=device", "trainer.num_workers=0", "data.cache=false", "trainer.max_steps=2",
                   manifest=synth_manifest, out_dir=tmp_path / "run")
    rec = Record()
    assert pretrain(cfg, callbacks=[rec])["steps"] == 2
    cpu = build_train_dataset(make_cfg("data.cache=false", manifest=synth_manifest))
    assert len(rec.views) == 8
    for i, (video, audio) in rec.views.items():
        ref = cpu[i]
        torch.testing.assert_close(video, ref["video"]["global"], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(audio, ref["audio"]["local"][0], rtol=1e-5, atol=1e-5)
