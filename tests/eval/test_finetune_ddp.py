"""``finetune`` under 2-process gloo DDP (Lightning's launcher on CPU): both ranks end with the same weights and
report the metrics of the *whole* multi-clip test set (11 videos: DistributedSampler pads one shard), equal to
scoring the final model on all of it in one process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from xmodal.eval.finetune import finetune
    from xmodal.eval.finetune_config import finetune_preset

    class Plain(nn.Module):
        embed_dim = 4

        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 4)

        def features(self, x):
            return self.proj(x.flatten(1))

    def rows(n, clips=None):
        g = torch.Generator().manual_seed(n)
        y = torch.arange(n) % 3
        x = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))[y] + 0.8 * torch.randn(n, 8, generator=g)
        if clips:
            x = x[:, None] + 0.5 * torch.randn(n, clips, 8, generator=g)
        x = x.reshape(*x.shape[:-1], 2, 1, 2, 2)
        return [{"video": x[i], "label": y[i], "index": i} for i in range(n)]

    out = sys.argv[1]
    torch.manual_seed(0)
    cfg = finetune_preset("xkd-esc50", modalities=("video",), epochs=2, warmup_epochs=0, dropout=0.0, lr=1e-2,
                          test_clips=3)
    test_rows = rows(11, clips=3)
    train, test = DataLoader(rows(16), batch_size=4), DataLoader(test_rows, batch_size=2)
    module, metrics = finetune({"video": Plain()}, train, test, cfg, 3, out_dir=f"{out}/run", accelerator="cpu",
                               devices=2, strategy="ddp")
    rank = module.global_rank
    torch.save({"metrics": metrics, "world": module.trainer.world_size, "steps": module.global_step,
                "weights": {k: v.clone() for k, v in module.model.state_dict().items()},
                "test_video": torch.stack([r["video"] for r in test_rows]),
                "test_label": torch.stack([r["label"] for r in test_rows])}, f"{out}/rank{rank}.pt")
    """
)


def test_finetune_ddp_two_ranks_agree_and_score_the_whole_test_set(tmp_path: Path) -> None:
    from xmodal.eval.finetune import AVClassifier
    from xmodal.eval.selection import score_predictions

    (tmp_path / "ddp.py").write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    done = subprocess.run([sys.executable, str(tmp_path / "ddp.py"), str(tmp_path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["world"] == 2 and r0["steps"] == r1["steps"] == 4  # 16 rows / 2 ranks / batch 4 × 2 epochs
    for k, v in r0["weights"].items():
        torch.testing.assert_close(v, r1["weights"][k], msg=k)
    assert r0["metrics"] == r1["metrics"]

    class Plain(torch.nn.Module):
        embed_dim = 4

        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(8, 4)

        def features(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(x.flatten(1))

    model = AVClassifier({"video": Plain()}, 3)
    model.load_state_dict(r0["weights"])
    with torch.no_grad():
        scores = model.eval().clip_scores({"video": r0["test_video"]}, multilabel=False)
    expected, _ = score_predictions(scores.numpy(), r0["test_label"].numpy())
    assert r0["metrics"] == expected
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
