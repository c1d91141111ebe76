"""XDC method: each variant's heads read the cluster set the paper assigns them, head reset, the per-iteration
schedule, a real tiny run through ``xmodal pretrain`` (dry run, iterations, exports loadable by the evaluation
suite), resume mid-iteration with the same pseudo-labels, and labels identical on every rank under 2-process gloo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from xmodal.config import ConfigError, load_config
from xmodal.configs import config_path
from xmodal.methods.xdc import XDC
from xmodal.methods.xdc_config import XDCConfig
from xmodal.methods.xdc_data import build_data

TINY = ["trainer.progress=none", "trainer.accelerator=cpu", "trainer.devices=1", "trainer.batch_size=6",
        "trainer.log_every_n_steps=1", "cluster.k_video=3", "cluster.k_audio=3", "cluster.k_joint=3",
        "cluster.iterations=2", "cluster.epochs=2", "trainer.max_epochs=4"]


def tiny(*extra: str, source: str | Path = "unused.csv") -> XDCConfig:
    return load_config(XDCConfig, config_path("xdc/synthetic_tiny"), [*TINY, f"data.source={source}", *extra])


def fake_batch(size: int = 4) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"video": torch.randn(size, 3, 4, 32, 32, generator=gen), "audio": torch.randn(size, 1, 40, 101,
            generator=gen), "index": torch.tensor([0, 2, 1, 3])}


@pytest.mark.parametrize("variant,heads", [
    ("xdc", {"video_audio", "audio_video"}), ("sdc", {"video_video", "audio_audio"}),
    ("mdc", {"video_video", "video_audio", "audio_video", "audio_audio"}), ("cdc", {"video_joint", "audio_joint"}),
])
def test_each_head_is_trained_on_its_routed_labels(variant: str, heads: set[str]) -> None:
    torch.manual_seed(0)
    method = XDC(tiny(f"cluster.variant={variant}"), num_clips=6).eval()
    assert set(method.heads) == heads
    method.train_rows = torch.tensor([5, 4, 3, 2])  # training-set position → global clip row
    for i, src in enumerate(method.sources):
        method.labels(src).copy_(torch.tensor([0, 1, 2, 0, 1, 2]).roll(i))
    batch = fake_batch()
    terms = method.compute_losses(batch, "train")
    rows = torch.tensor([5, 3, 4, 2])
    for name in heads:
        enc, src = name.split("_")
        logits = method.heads[name](method.encoders[enc].features(batch[enc]))
        torch.testing.assert_close(terms[f"ce_{enc}_{src}"], F.cross_entropy(logits, method.labels(src)[rows]))


def test_sdc_single_modality_and_config_errors() -> None:
    method = XDC(tiny("cluster.variant=sdc", "cluster.modalities=[video]"), num_clips=4)
    assert set(method.encoders) == {"video"} and set(method.heads) == {"video_video"}
    with pytest.raises(ConfigError, match="needs both"):
        tiny("cluster.modalities=[video]")
    with pytest.raises(ConfigError, match="uniform_over"):
        tiny("cluster.uniform_over=joint")
    with pytest.raises(ConfigError, match="shard set; XDC reads a manifest"):
        build_data(tiny(source="https://example.org/shards/index.json"))


def test_head_reset_is_fresh_identical_per_iteration_and_drops_momentum() -> None:
    method = XDC(tiny(), num_clips=4)
    head = method.heads["video_audio"]
    opt = torch.optim.SGD(method.heads.parameters(), lr=0.1, momentum=0.9)
    head(torch.randn(2, head.in_features)).sum().backward()
    opt.step()
    before = head.weight.detach().clone()
    method._trainer = type("T", (), {"optimizers": [opt]})()  # type: ignore[assignment]
    method.reset_heads()
    first = head.weight.detach().clone()
    assert not torch.equal(before, first) and all(p not in opt.state for p in method.heads.parameters())
    method.reset_heads()
    torch.testing.assert_close(head.weight, first)  # same (seed, iteration): same draw on every rank
    method.iteration = 1
    method.reset_heads()
    assert not torch.equal(head.weight, first)
    method._trainer = None


def test_schedule_restarts_every_iteration() -> None:
    cfg = tiny("cluster.warmup_epochs=1", "cluster.step_epochs=2", "cluster.gamma=0.1")
    method = XDC(cfg, num_clips=4)
    trainer = type("T", (), {"estimated_stepping_batches": 40, "max_epochs": 4, "world_size": 1,
                             "accumulate_grad_batches": 1, "train_dataloader": None})()
    method._trainer = trainer  # type: ignore[assignment]
    sched = method.configure_optimizers()["lr_scheduler"]["scheduler"]
    f = sched.lr_lambdas[0]  # 10 steps an epoch: warm-up 10 steps, then ×0.1 every 20 steps
    assert [f(0), f(9), f(10), f(29), f(30)] == pytest.approx([0.1, 1.0, 1.0, 1.0, 0.1])
    method.iter_start_step = 30  # a new iteration starts at step 30
    assert [f(30), f(40), f(60)] == pytest.approx([0.1, 1.0, 0.1])
    method._trainer = None


def test_pretrain_end_to_end_resume_mid_iteration_and_export(tmp_path: Path, synth_manifest: Path) -> None:
    from xmodal.cli.main import main
    from xmodal.eval.geometry import resolve_geometry
    from xmodal.methods.pretrain import load_pretrain_config, pretrain
    from xmodal.models import load_backbone

    common = [*TINY, f"data.source={synth_manifest}"]
    dry = tmp_path / "dry.json"
    assert main(["pretrain", "--config", "xdc/synthetic_tiny", *common, f"out_dir={tmp_path / 'a'}", "--dry-run",
                 "--json", str(dry)]) == 0
    report = json.loads(dry.read_text())
    assert report["routes"] == {"video": ["audio"], "audio": ["video"]} and report["clips"]["held_out"] >= 1

    full = pretrain(load_pretrain_config(config_path("xdc/synthetic_tiny"), [*common, f"out_dir={tmp_path / 'a'}"]))
    assert full["iterations"] == 2 and [h["epochs"] for h in full["history"]] == [2, 2]
    assert "video/nmi_previous" in full["history"][1] and 0.0 <= full["history"][0]["video/purity"] <= 1.0
    done = full["method"]

    # killed after epoch 3 = one epoch into iteration 2, then resumed (max_epochs is a free key)
    part = pretrain(load_pretrain_config(config_path("xdc/synthetic_tiny"),
                                         [*common, "trainer.max_epochs=3", f"out_dir={tmp_path / 'b'}"]))
    assert (part["method"].iteration, part["method"].iter_epoch) == (1, 1)
    resumed = pretrain(load_pretrain_config(config_path("xdc/synthetic_tiny"), [*common, f"out_dir={tmp_path / 'b'}"]))
    again = resumed["method"]
    assert resumed["resumed_from"] and again.iteration == 2 and len(again.history) == 2  # no extra clustering
    for src in done.sources:
        torch.testing.assert_close(again.labels(src), done.labels(src))

    video = load_backbone(full["exports"]["video"])
    geometry, sources = resolve_geometry(full["exports"]["video"], "video")
    assert (geometry.frames, geometry.size, sources["frames"]) == (4, 32, "export metadata")
    assert video.features(torch.randn(1, 3, 4, 32, 32)).shape == (1, 128)  # type: ignore[operator]
    audio_geo, _ = resolve_geometry(full["exports"]["audio"], "audio")
    spec = audio_geo.transform()({"audio": torch.randn(32000), "sample_rate": 16000})["audio"]
    assert load_backbone(full["exports"]["audio"]).features(spec[None]).shape == (1, 128)  # type: ignore[operator]


DDP = """
import json, os, sys
import torch, torch.distributed as dist
from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.methods.xdc import XDC
from xmodal.methods.xdc_config import XDCConfig
from xmodal.methods.xdc_data import build_data

overrides, out = json.loads(open(sys.argv[1]).read()), sys.argv[2]
world = int(os.environ.get("WORLD_SIZE", "1"))
if world > 1:
    dist.init_process_group("gloo")
torch.manual_seed(0)
cfg = load_config(XDCConfig, config_path("xdc/synthetic_tiny"), overrides)
method = XDC(cfg, num_clips=len(build_data(cfg).truth))
method.attach(build_data(cfg))
feats, _ = method.extract()
method.recluster()
rank = dist.get_rank() if world > 1 else 0
saved = {s: method.labels(s) for s in method.sources} | {f"f_{m}": torch.from_numpy(f) for m, f in feats.items()}
torch.save(saved, f"{out}/labels_{world}_{rank}.pt")
"""


def test_labels_reach_every_rank_under_two_process_gloo(tmp_path: Path, synth_manifest: Path) -> None:
    (tmp_path / "o.json").write_text(json.dumps([*TINY, f"data.source={synth_manifest}", "cluster.k_video=4"]))
    (tmp_path / "s.py").write_text(DDP)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [str(tmp_path / "s.py"), str(tmp_path / "o.json"), str(tmp_path)]
    for cmd in ([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "--master-port=29517", *args],
                [sys.executable, *args]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
    r0, r1, single = (torch.load(tmp_path / f"labels_{w}_{r}.pt", weights_only=True)
                      for w, r in ((2, 0), (2, 1), (1, 0)))
    for src in ("audio", "video"):
        assert (r0[src] >= 0).all()
        torch.testing.assert_close(r0[src], r1[src])  # one assignment on every rank
        # sharded extraction + gather = one process, rows in the same order (float noise of batch composition only)
        torch.testing.assert_close(r0[f"f_{src}"], single[f"f_{src}"], rtol=1e-4, atol=1e-5)


def test_handcrafted_features_and_uniform_sampler_loader(synth_manifest: Path) -> None:
    from xmodal.methods.xdc_data import handcrafted_features
    from xmodal.methods.xdc_pretrain import build

    still = torch.zeros(1, 3, 4, 8, 8)
    moving = torch.arange(4.0).view(1, 1, 4, 1, 1).expand(1, 3, 4, 8, 8)
    f = handcrafted_features({"video": torch.cat([still, moving])}, "video")
    assert f.shape == (2, 9) and f[0, 6:].abs().sum() == 0 and (f[1, 6:] == 1).all()  # motion energy
    assert handcrafted_features({"audio": torch.randn(2, 1, 40, 101)}, "audio").shape == (2, 80)

    method, data, loader = build(tiny("cluster.uniform_over=audio", source=synth_manifest))
    assert sorted(list(loader.sampler)) == list(range(len(data.train_rows)))  # before clustering: a shuffle
    method.labels("audio")[torch.as_tensor(data.train_rows)] = torch.arange(len(data.train_rows)) % 2
    method.labels("audio")[torch.as_tensor(data.train_rows[:1])] = 2  # a singleton cluster
    drawn = method.labels("audio")[torch.as_tensor(data.train_rows)[list(loader.sampler)]]
    assert abs(int((drawn == 2).sum()) - len(drawn) // 3) <= 1  # drawn as often as the big clusters


@pytest.mark.parametrize("name,total", [("xdc/kinetics400", 30), ("xdc/audioset", 45)])
def test_full_scale_configs_carry_table_2(name: str, total: int) -> None:
    """Appendix Table 2, "All DCs": batch 32, lr 0.01, warm-up / step 10 / 10, total 30 (Kinetics) or 45
    (AudioSet) epochs per iteration, γ = 0.01, weight decay 1e-4, early stopping."""
    cfg = load_config(XDCConfig, config_path(name))
    c = cfg.cluster
    assert (cfg.trainer.batch_size, cfg.optim.lr, cfg.optim.weight_decay) == (32, 0.01, 1e-4)
    assert (c.warmup_epochs, c.step_epochs, c.epochs, c.gamma, c.early_stop) == (10, 10, total, 0.01, True)
    assert cfg.trainer.max_epochs == c.iterations * total
