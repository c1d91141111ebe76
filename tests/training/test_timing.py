"""DataWaitTimer attributes a slow loader to the wait and a slow step to the step."""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from xmodal.training.timing import DataWaitTimer


class SlowData(Dataset):
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> dict[str, Any]:
        time.sleep(self.delay)
        return {"x": torch.randn(4), "index": i}


class SlowStep(L.LightningModule):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.lin = torch.nn.Linear(4, 1)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        time.sleep(self.delay)
        return self.lin(batch["x"]).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fraction(data_delay: float, step_delay: float) -> dict[str, Any]:
    timer = DataWaitTimer(skip=1)
    trainer = L.Trainer(max_steps=5, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(SlowStep(step_delay), DataLoader(SlowData(data_delay), batch_size=2))
    return timer.summary()


@pytest.mark.filterwarnings("ignore")
def test_wait_fraction_follows_where_the_time_goes() -> None:
    data_bound = _fraction(data_delay=0.03, step_delay=0.0)  # 60 ms of loading per batch, a trivial step
    step_bound = _fraction(data_delay=0.0, step_delay=0.06)
    assert data_bound["timed_batches"] == step_bound["timed_batches"] == 4
    assert data_bound["wait_fraction"] > 0.7
    assert step_bound["wait_fraction"] < 0.3
    assert step_bound["clips_per_s"] == pytest.approx(2 / (step_bound["step_s"] + step_bound["wait_s"]) * 4)
