"""XKD config checks that stop a broken run before it starts: shared trunks compare the *resolved* backbone sizes,
view geometries fill whole patches (validation rejects > 10 % loss, ``XKD._trim`` warns once per view), and the
official-code Ω switch reaches the teacher targets."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from xmodal.config import ConfigError, load_config
from xmodal.configs import config_path
from xmodal.methods.xkd import XKD
from xmodal.methods.xkd_config import PretrainConfig, backbone_dims, dropped_fraction, view_patch, view_shapes

SHIPPED = sorted(p.stem for p in Path(config_path("xkd/synthetic_tiny")).parent.glob("*.yaml"))


@pytest.mark.parametrize(
    "sizes",
    [
        ("model.video.size=large", "model.audio.size=base"),  # dim/depth keys equal, named sizes differ
        ("model.audio.dim=64",),  # custom sizes that differ in width
        ("model.audio.heads=4",),  # ... or only in heads (the shared blocks would silently ignore it)
    ],
)
@pytest.mark.parametrize("variant", ["mas", "mats"])
def test_shared_trunk_with_mismatched_resolved_sizes_fails_validation(make_cfg: Any, variant: str,
                                                                       sizes: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match=r"^model\.variant: .*model\.audio\.size"):
        make_cfg(f"model.variant={variant}", *sizes)


@pytest.mark.parametrize(
    "sizes",
    [
        ("model.video.size=small", "model.audio.size=small"),
        # A named size and a custom one that resolve to the same (dim, depth, heads) share fine.
        ("model.video.size=small", "model.audio.size=custom", "model.audio.dim=384", "model.audio.depth=12",
         "model.audio.heads=6"),
    ],
)
def test_shared_trunk_with_matching_resolved_sizes_validates_and_builds(make_cfg: Any,
                                                                        sizes: tuple[str, ...]) -> None:
    cfg = make_cfg("model.variant=mas", *sizes)
    assert backbone_dims(cfg.model.video) == backbone_dims(cfg.model.audio) == (384, 12, 6)
    with torch.device("meta"):
        method = XKD(cfg)
    assert method.student["audio"].blocks is method.student["video"].blocks


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_fill_whole_patches(name: str) -> None:
    cfg = load_config(PretrainConfig, config_path(f"xkd/{name}"))
    for view, shape in view_shapes(cfg).items():
        assert dropped_fraction(shape, view_patch(cfg, view)) == 0.0, (name, view, shape)


def test_tiny_geometries_frames_per_view(make_cfg: Any) -> None:
    """The demo config and the test config, view by view (video frames×H×W, audio mel bins×log-mel frames)."""
    demo = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"))
    assert view_shapes(demo) == {"video_global": (16, 32, 32), "video_local": (4, 24, 24),
                                 "audio_global": (80, 112), "audio_local": (80, 32)}
    test = make_cfg()
    assert view_shapes(test) == {"video_global": (8, 32, 32), "video_local": (4, 16, 16),
                                 "audio_global": (80, 48), "audio_local": (80, 32)}
    for view, shape in view_shapes(test).items():
        assert dropped_fraction(shape, view_patch(test, view)) == 0.0, view


def test_geometry_that_drops_over_ten_percent_fails_validation(make_cfg: Any) -> None:
    # The tiny config's former 1 s local audio view: 28 log-mel frames, whole 16-frame patches keep 16.
    with pytest.raises(ConfigError, match=r"^data\.views\.audio_local: the 80×28 view .* up to 80×16, so 43 %") as err:
        make_cfg("data.views.audio_local.seconds=1.0")
    assert "data.views.audio_local.seconds to 0.537 (16 frames) or 1.109 (32 frames)" in str(err.value)
    for seconds in (0.537, 1.109):  # the values the message suggests do fit
        cfg = make_cfg(f"data.views.audio_local.seconds={seconds}")
        assert dropped_fraction(view_shapes(cfg)["audio_local"], cfg.model.audio_patch) == 0.0
    with pytest.raises(ConfigError, match=r"^data\.views\.video_local: .*data\.views\.video_local\.size to 16 or 24"):
        make_cfg("data.views.video_local.size=20")  # 20² with 8² patches keeps 16² (36 %)
    with pytest.raises(ConfigError, match=r"^data\.views\.video_global: .* all of it"):
        make_cfg("data.views.video_global.frames=1")  # smaller than one 2-frame cuboid
    with pytest.raises(ConfigError, match=r"^model\.audio_patch: patch sizes must be positive"):
        make_cfg("model.audio_patch=[0,16]")
    make_cfg("data.views.audio_global.seconds=1.72")  # 49 frames → 48: a 2 % trim is tolerated
    make_cfg("loss.objective=vmae", "data.views.audio_local.seconds=1.0")  # audio views unused by V-MAE


def test_trim_warns_once_per_view_when_it_drops_over_ten_percent(make_cfg: Any, make_batch: Any) -> None:
    cfg = make_cfg()
    method = XKD(cfg)
    batch = make_batch(cfg)
    batch["audio"]["local"] = [torch.randn(4, 1, 80, 28)]  # the old 1 s view: 43 % lost
    batch["audio"]["global"] = torch.randn(4, 1, 80, 49)  # 2 % lost: below the threshold, no warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            method.compute_losses(batch, "train")
    trims = [str(w.message) for w in caught if "XKD input" in str(w.message)]
    assert len(trims) == 1, trims
    assert "data.views.audio_local: the 80×28 view" in trims[0] and "43 %" in trims[0]
    assert "data.views.audio_local.seconds" in trims[0]


def test_official_omega_reaches_teacher_targets(make_cfg: Any, make_batch: Any) -> None:
    """``loss.refine_omega=official``: the pooled teacher feature keeps the plain patch mean's norm (the official
    code's √ of the patch-mean energy ratio) but not its direction; ``paper`` inflates it."""
    torch.manual_seed(4)
    methods = {mode: XKD(make_cfg(f"loss.refine_omega={mode}")) for mode in ("official", "paper")}
    methods["plain"] = XKD(make_cfg("loss.use_refine=false"))
    for m in methods.values():
        m.load_state_dict(methods["official"].state_dict())
    batch = make_batch(methods["official"].cfg)
    pooled: dict[str, torch.Tensor] = {}
    for mode, m in methods.items():
        hook = m.teacher_head["video"].register_forward_hook(
            lambda _mod, args, _out, mode=mode: pooled.__setitem__(mode, args[0].detach()))
        m._teacher_targets(batch["video"]["global"], batch["audio"]["global"])
        hook.remove()
    torch.testing.assert_close(pooled["official"].norm(dim=-1), pooled["plain"].norm(dim=-1))
    assert not torch.allclose(pooled["official"], pooled["plain"])
    assert (pooled["paper"].norm(dim=-1) > 1.5 * pooled["plain"].norm(dim=-1)).all()


def test_unnormalized_logmel_is_refused_unless_opted_in(make_cfg: Any) -> None:
    """Mean 0 / std 1 would feed raw log-mels (≈ −5 ± 4.4 with the official front-end) to the audio encoder."""
    raw = ("data.views.logmel.mean=0.0", "data.views.logmel.std=1.0")
    with pytest.raises(ConfigError, match=r"^data\.views\.logmel: mean 0 / std 1 .*allow_unnormalized_audio=true$"):
        make_cfg(*raw)
    assert make_cfg(*raw, "data.allow_unnormalized_audio=true").data.views.logmel.mean == 0.0
    assert make_cfg(*raw, "loss.objective=vmae").loss.objective == "vmae"  # no audio encoder: nothing to refuse
    assert PretrainConfig().data.views.logmel.std == 4.410007  # the dataclass default carries the official stats


@pytest.mark.parametrize("name", ["kinetics400", "kinetics_sound", "audioset"])
def test_paper_recipes_use_the_official_logmel(name: str) -> None:
    mel = load_config(PretrainConfig, config_path(f"xkd/{name}")).data.views.logmel
    assert (mel.mel_scale, mel.mel_norm, mel.log_eps) == ("slaney", "slaney", 1.1920929e-07)
    assert (mel.mean, mel.std) == (-5.3688107, 4.410007)  # official SpecAug statistics
    assert (mel.n_fft, mel.hop_length, mel.n_mels) == (1024, 143, 80)
