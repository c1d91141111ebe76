"""XKD under 2-process gloo DDP (Lightning's ddp launcher on CPU): ranks stay in sync and the centers are the
global-batch statistic (XKD Eq. 11 centering; Table S4 momentum 0.9).

The function-level equality of gathered statistics is tested in tests/losses/test_losses_distributed.py; here
the whole method runs through ``pretrain()``: each rank records the teacher outputs it fed to the centering
and dumps centers, teacher and student weights, so the test can (1) check every rank holds identical state and
(2) replay the center update single-process on the concatenated global batch.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import torch

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    from xmodal.config import load_config
    from xmodal.configs import config_path
    from xmodal.methods import xkd
    from xmodal.methods.pretrain import pretrain
    from xmodal.methods.xkd_config import PretrainConfig

    overrides, out = json.loads(open(sys.argv[1]).read()), sys.argv[2]
    cfg = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"), overrides)
    seen = []
    original = xkd.XKD._teacher_targets

    def recording(self, xv, xa):
        result = original(self, xv, xa)
        seen.append({"video": result["video"].detach().clone(), "audio": result["audio"].detach().clone()})
        return result

    xkd.XKD._teacher_targets = recording
    masks = []
    original_masking = xkd.random_masking

    def recording_masks(*args, **kwargs):
        info = original_masking(*args, **kwargs)
        masks.append(info.mask.clone())
        return info

    xkd.random_masking = recording_masks
    result = pretrain(cfg)
    method = result["method"]
    trainer = method.trainer
    sync_bn = [type(m).__name__ for n, m in method.named_modules() if "BatchNorm" in type(m).__name__]
    torch.save({
        "centers": {"video": method.center_video.clone(), "audio": method.center_audio.clone()},
        "teacher": {k: v.clone() for k, v in method.state_dict().items() if k.startswith("teacher")},
        "student": {k: v.clone() for k, v in method.state_dict().items() if k.startswith(("student.", "head."))},
        "seen": seen,
        "masks": masks,
        "info": {"rank": trainer.global_rank, "world": trainer.world_size, "steps": trainer.global_step,
                 "sync_batchnorm": trainer.strategy._layer_sync is not None, "bn_types": sorted(set(sync_bn)),
                 "exports": sorted(result["exports"])},
    }, f"{out}/rank{trainer.global_rank}.pt")
    """
)


def test_xkd_ddp_two_ranks_stay_in_sync(tmp_path: Path, synth_manifest: Path, overrides: Any,
                                        run_ddp: Any) -> None:
    extra = ["trainer.strategy=ddp", "trainer.devices=2", "trainer.max_steps=2", "trainer.num_workers=0",
             "trainer.sync_batchnorm=true", "data.cache=false"]
    r0, r1 = run_ddp(SCRIPT, overrides(synth_manifest, tmp_path / "run", extra), tmp_path, timeout=170)
    assert (r0["info"]["rank"], r1["info"]["rank"]) == (0, 1)
    assert r0["info"]["world"] == 2 and r0["info"]["steps"] == r1["info"]["steps"] == 2
    # PyTorch's DDP refuses SyncBatchNorm on CPU: the engine turns it off there (GPU runs convert the DINO
    # projector's BN layers). BN running statistics are then per process between steps (DDP re-broadcasts rank
    # 0's buffers at each forward; they are unused in training mode), so only weights are compared below.
    assert r0["info"]["sync_batchnorm"] is False and r0["info"]["bn_types"] == ["BatchNorm1d"]
    assert "sync_batchnorm: ignored on CPU" in r0["stderr"]
    assert r0["info"]["exports"] and not r1["info"]["exports"]  # only rank 0 exports
    # Every rank was seeded alike; XKD.on_train_start re-seeds per rank so their masks differ.
    assert not torch.equal(r0["masks"][0], r1["masks"][0])
    for key in ("teacher", "student"):
        assert r0[key].keys() == r1[key].keys() and r0[key]
        for name, value in r0[key].items():
            if "running_" in name or "num_batches_tracked" in name:
                continue
            assert torch.equal(value, r1[key][name]), f"{key} {name} differs across ranks"
    # Ranks saw different data, yet their centers are identical: the global-batch mean of Eq. 11 centering.
    assert not torch.equal(r0["seen"][0]["video"], r1["seen"][0]["video"])
    momentum = 0.9
    for mod in ("video", "audio"):
        assert torch.equal(r0["centers"][mod], r1["centers"][mod])
        center = torch.zeros_like(r0["centers"][mod])
        for a, b in zip(r0["seen"], r1["seen"], strict=True):
            center = momentum * center + (1 - momentum) * torch.cat([a[mod], b[mod]]).mean(0, keepdim=True)
        torch.testing.assert_close(r0["centers"][mod], center, rtol=1e-5, atol=1e-6)
        local_only = momentum * (1 - momentum) * r0["seen"][0][mod].mean(0, keepdim=True) + (
            1 - momentum) * r0["seen"][1][mod].mean(0, keepdim=True)
        assert not torch.allclose(r0["centers"][mod], local_only)
