"""A real ``pretrain`` under 2-process gloo DDP with bad files (issue: training-core correctness, items 1–3).

8 synthetic clips of which 3 are truncated, ``data.on_error=skip``, batch 2, 2 epochs, gradient accumulation 2,
one persistent worker per rank. With Lightning's DistributedSampler (seed 0) epoch 0 gives rank 0 the batches
[4, 7], [2, 1] and rank 1 [0, 3], [5, 6]; truncating rows 4, 5 and 7 makes one batch entirely bad (rank 0), one
batch shrunk to a single good sample (rank 1), and a bad file that lands on one rank only. The run must finish on
both ranks with identical weights, every batch topped up to its full size, each bad row counted once per epoch,
new clips and augmentations in epoch 1, and one EMA update per optimizer step.
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path
from typing import Any

import torch

BAD_ROWS = (4, 5, 7)

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import lightning.pytorch as L
    import torch
    from xmodal.config import load_config
    from xmodal.configs import config_path
    from xmodal.methods import base
    from xmodal.methods.pretrain import pretrain
    from xmodal.methods.xkd_config import PretrainConfig

    overrides, out = json.loads(open(sys.argv[1]).read()), sys.argv[2]
    cfg = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"), overrides)
    updates = []
    original = base.EMAPair.update

    def counting(self, momentum):
        updates.append(momentum)
        original(self, momentum)

    base.EMAPair.update = counting
    batches = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            batches.append({"epoch": trainer.current_epoch, "index": batch["index"].tolist(),
                            "skipped": [p for p, _ in batch["skipped"]],
                            "video": batch["video"]["global"].flatten(1).sum(1).tolist()})

    result = pretrain(cfg, callbacks=[Record()])
    method = result["method"]
    trainer = method.trainer
    torch.save({"weights": {k: v.clone() for k, v in method.state_dict().items() if k.startswith(("student.",
                            "teacher.", "head.", "teacher_head.", "center_"))},
                "info": {"rank": trainer.global_rank, "steps": trainer.global_step, "updates": len(updates),
                         "batches": batches, "skip_reports": method.skip_reports}},
               f"{out}/rank{trainer.global_rank}.pt")
    """
)


def _manifest_with_bad_rows(src: Path, out: Path) -> tuple[Path, list[str]]:
    """All 8 synthetic clips as the train split; rows in BAD_ROWS truncated to half their bytes."""
    rows = list(csv.DictReader(src.open()))[:8]
    out.mkdir()
    bad = []
    for i, row in enumerate(rows):
        data = (src.parent / row["path"]).read_bytes()
        target = out / Path(row["path"]).name
        target.write_bytes(data[: len(data) // 3] if i in BAD_ROWS else data)
        row["path"], row["split"] = target.name, "train"
        if i in BAD_ROWS:
            bad.append(str(target.resolve()))
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    sidecar = src.parent / "manifest.json"
    if sidecar.is_file():
        (out / "manifest.json").write_text(sidecar.read_text())
    return manifest, bad


def test_ddp_pretrain_survives_bad_files_with_new_epochs_and_one_ema_step(
    tmp_path: Path, synth_manifest: Path, overrides: Any, run_ddp: Any
) -> None:
    manifest, bad = _manifest_with_bad_rows(synth_manifest, tmp_path / "data")
    extra = ["trainer.strategy=ddp", "trainer.devices=2", "trainer.batch_size=2", "trainer.max_epochs=2",
             "trainer.accumulate_grad_batches=2", "trainer.num_workers=1", "data.on_error=skip", "data.cache=false"]
    r0, r1 = run_ddp(SCRIPT, overrides(manifest, tmp_path / "run", extra), tmp_path)
    # 8 clips / 2 ranks / batch 2 = 2 batches per rank and epoch; accumulation 2 → 1 optimizer step per epoch.
    assert r0["info"]["steps"] == r1["info"]["steps"] == 2
    assert r0["info"]["updates"] == r1["info"]["updates"] == 2  # EMA once per optimizer step, not per micro-batch
    for name, value in r0["weights"].items():
        if "running_" not in name and "num_batches_tracked" not in name:
            assert torch.equal(value, r1["weights"][name]), f"{name} differs across ranks"
    batches = r0["info"]["batches"] + r1["info"]["batches"]
    assert len(batches) == 8 and all(len(b["index"]) == 2 for b in batches)  # every batch topped up to full size
    skipped_per_batch = sorted(len(b["skipped"]) for b in batches if b["epoch"] == 0)
    assert skipped_per_batch == [0, 0, 1, 2]  # one batch entirely bad, one shrunk to a single good sample
    for epoch in (0, 1):
        seen = sorted(p for b in batches if b["epoch"] == epoch for p in b["skipped"])
        assert seen == sorted(bad), f"epoch {epoch}: each bad row is counted once"
        assert not {i for b in batches if b["epoch"] == epoch for i in b["index"]} & set(BAD_ROWS)
    assert any("skipped" in line for line in r0["info"]["skip_reports"] + r1["info"]["skip_reports"])
    # Epoch 1 draws new clip starts and augmentations: the same row gives a different global video view.
    views: dict[tuple[int, int], float] = {}
    for b in batches:
        for i, v in zip(b["index"], b["video"], strict=True):
            views.setdefault((b["epoch"], i), v)
    common = {i for e, i in views if e == 0} & {i for e, i in views if e == 1}
    assert common and all(views[(0, i)] != views[(1, i)] for i in common)
