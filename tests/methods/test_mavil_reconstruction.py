"""MAViL reconstruction pictures (App. A, Fig. 3): visible patches stay as they are, masked patches are the
decoder's predictions through encoders → fusion → decoders (checked against a direct computation from the mask
alone), norm-pix predictions are de-standardised, stage-2 feature targets are refused, and ``xmodal reconstruct``
writes the picture from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xmodal.analysis.mavil_reconstruction import check_pixel_targets, mavil_reconstruct
from xmodal.cli.main import main
from xmodal.config import load_config, to_dict
from xmodal.configs import config_path
from xmodal.methods.mavil import MAViL
from xmodal.methods.mavil_config import MAViLConfig
from xmodal.models.decoder import normalize_patches, patchify_audio, patchify_video

# 2 s clips of the shared tiny benchmark: audio 32 bins × 192 frames (2×12 patches), video 4×32² (2×4×4 tubelets).
TINY = [
    "model.dim=32", "model.depth=1", "model.heads=2", "model.fusion_depth=1", "model.decoder_dim=16",
    "model.decoder_depth=1", "model.decoder_heads=2", "data.clip_seconds=2.0", "data.clips.frames=4",
    "data.clips.audio_seconds=2.0", "data.clips.fbank.num_mel_bins=32", "data.clips.fbank.target_length=192",
    "data.source=unused.csv",
]


def tiny(*extra: str) -> MAViLConfig:
    return load_config(MAViLConfig, config_path("mavil/synthetic_tiny"), [*TINY, *extra])


def clip(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, 32, 192, generator=gen), torch.randn(3, 4, 32, 32, generator=gen)


def patches(method: MAViL, mod: str, x: torch.Tensor) -> torch.Tensor:
    m = method.cfg.model
    return (patchify_audio if mod == "audio" else patchify_video)(x.unsqueeze(0), getattr(m, f"{mod}_patch"))[0]


def direct_predictions(method: MAViL, audio: torch.Tensor, video: torch.Tensor,
                       masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The decoders' outputs rebuilt from the masks alone: visible tokens in ascending order (attention and the
    decoder's unshuffle do not depend on the order), encoders, fusion, its norm, decoders."""
    x = {"audio": audio.unsqueeze(0), "video": video.unsqueeze(0)}
    tokens, restore = {}, {}
    for mod, mask in masks.items():
        keep, hidden = (~mask).nonzero()[:, 0], mask.nonzero()[:, 0]
        restore[mod] = torch.cat([keep, hidden]).argsort()[None]
        tokens[mod] = method.encoder.encode(mod, x[mod], keep[None])
    a, v = method.encoder.fusion(tokens["audio"], tokens["video"])
    fused = {"audio": method.encoder.fusion.norm(a), "video": method.encoder.fusion.norm(v)}
    return {mod: method.decoders[mod](fused[mod], restore[mod])[0] for mod in masks}


@torch.no_grad()
def test_visible_patches_unchanged_masked_patches_are_the_decoders_predictions() -> None:
    method = MAViL(tiny()).eval()
    audio, video = clip()
    rec = mavil_reconstruct(method, audio, video, seed=3)
    expected = direct_predictions(method, audio, video, {mod: rec[mod]["mask"] for mod in ("audio", "video")})
    for mod, x in (("audio", audio), ("video", video)):
        mask = rec[mod]["mask"]
        assert int((~mask).sum()) == method.visible(mod)  # the training mask ratio
        torch.testing.assert_close(rec[mod]["input"], x)
        drawn, truth = patches(method, mod, rec[mod]["reconstruction"]), patches(method, mod, x)
        torch.testing.assert_close(drawn[~mask], truth[~mask])
        torch.testing.assert_close(drawn[mask], expected[mod][mask], atol=1e-5, rtol=1e-4)
        assert not torch.allclose(drawn[mask], truth[mask], atol=1e-2)  # predictions, not the hidden input
        assert torch.all(patches(method, mod, rec[mod]["masked"])[mask] == 0)
    again = mavil_reconstruct(method, audio, video, seed=3)
    assert torch.equal(again["video"]["mask"], rec["video"]["mask"])  # the seed fixes the masks


@torch.no_grad()
def test_norm_pix_predictions_are_put_back_in_input_units() -> None:
    method = MAViL(tiny("model.norm_pix=true")).eval()
    audio, video = clip(1)
    rec = mavil_reconstruct(method, audio, video)
    expected = direct_predictions(method, audio, video, {mod: rec[mod]["mask"] for mod in ("audio", "video")})
    for mod, x in (("audio", audio), ("video", video)):
        mask, truth = rec[mod]["mask"], patches(method, mod, x)
        drawn = patches(method, mod, rec[mod]["reconstruction"])
        mean, std = truth.mean(-1, keepdim=True), (truth.var(-1, keepdim=True) + 1e-6).sqrt()
        torch.testing.assert_close(((drawn - mean) / std)[mask], expected[mod][mask], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(normalize_patches(drawn)[~mask], normalize_patches(truth)[~mask])


def test_stage2_feature_targets_have_no_picture() -> None:
    with pytest.raises(ValueError, match=r"not pixels.*teacher: runs/s1\.ckpt"):
        check_pixel_targets(tiny("loss.stage=2", "loss.target=fusion", "loss.teacher=runs/s1.ckpt"))
    check_pixel_targets(tiny("loss.stage=2", "loss.target=raw", "loss.teacher=runs/s1.ckpt"))  # raw patches: drawn


def test_cli_draws_a_checkpoint(tmp_path: Path, synth_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tiny(f"data.source={synth_manifest}")
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": MAViL(cfg).state_dict(), "xmodal": {"config": to_dict(cfg)}}, ckpt)  # as SaveRunInfo
    out = tmp_path / "recon.png"
    assert main(["reconstruct", str(ckpt), "--data", str(synth_manifest), "--out", str(out), "--index", "1"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {out}" in capsys.readouterr().out
    stage2 = tiny("loss.stage=2", "loss.target=fusion", f"loss.teacher={ckpt}")
    torch.save({"state_dict": {}, "xmodal": {"config": to_dict(stage2)}}, tmp_path / "s2.ckpt")
    assert main(["reconstruct", str(tmp_path / "s2.ckpt"), "--data", str(synth_manifest), "--out",
                 str(tmp_path / "no.png")]) == 2
    assert "not pixels" in capsys.readouterr().err and not (tmp_path / "no.png").exists()
