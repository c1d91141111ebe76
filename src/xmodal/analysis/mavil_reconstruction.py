"""MAViL's masked reconstructions of both modalities as pictures (Huang et al., "MAViL: Masked Audio-Video
Learners", NeurIPS 2023, arXiv 2212.08071, App. A, Fig. 3).

One clip is masked as in training (each modality keeps ``method.visible(modality)`` random tokens), the visible
tokens go through the uni-modal encoders, the fusion encoder (and its norm) and each modality's decoder
(:meth:`xmodal.methods.mavil.MAViL.masked_forward`, the path of Eq. 1); the picture shows visible patches as they
are and masked patches filled with the decoder's prediction (MAE's convention).

Only models whose decoders predict raw patches can be drawn: stage 1, the one-stage EMA variant (its raw
decoders) and stage 2 with ``loss.target=raw``. A stage-2 MAViL-Fusion or MAViL-Uni model (Eq. 5) regresses its
teacher's token features, which are no image; asking for its picture is an error that names the teacher to draw
instead. With ``model.norm_pix`` the decoder predicts per-patch standardised values: the masked patches are then
shown with the true patch's mean and standard deviation put back (as MAE's visualisation of norm-pix models), and
the figure's title says so.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from xmodal.analysis.visualize import reconstruction_figure
from xmodal.config import from_dict
from xmodal.data.dataset import AVDataset, read_manifest
from xmodal.eval.geometry import EvalGeometry
from xmodal.methods.mavil import MAViL
from xmodal.methods.mavil_config import MAViLConfig
from xmodal.methods.mavil_pretrain import eval_geometry
from xmodal.models.decoder import patchify_audio, patchify_video, unpatchify_audio, unpatchify_video
from xmodal.models.masking import disjoint_maskings

MODALITIES = ("audio", "video")


def check_pixel_targets(cfg: MAViLConfig) -> None:
    """Raise one clear line when the decoders of a model of ``cfg`` do not predict raw patches (no picture)."""
    lc = cfg.loss
    if lc.stage == 2 and lc.target != "raw":
        raise ValueError(f"this MAViL stage-{lc.stage} model (loss.target={lc.target}) reconstructs its teacher's "
                         f"{'fusion' if lc.target == 'fusion' else 'uni-modal'} features (Eq. 5), not pixels; draw "
                         f"the reconstructions of a stage-1 model instead (its teacher: {lc.teacher})")


@torch.no_grad()
def mavil_reconstruct(method: MAViL, audio: torch.Tensor, video: torch.Tensor,
                      seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Masked input and reconstruction of one clip, audio ``(1, F, T)`` and video ``(3, T, H, W)``.

    Per modality: ``input``, ``masked`` (masked patches zeroed) and ``reconstruction`` images of the input's shape,
    ``mask`` ``(N,)`` (1 = masked) and ``prediction`` ``(N, P)`` (the decoder's output for every position, in the
    input's units; with ``norm_pix`` de-standardised with the true patch statistics).
    """
    check_pixel_targets(method.cfg)
    method.eval()
    device = next(method.parameters()).device
    inputs = {"audio": audio.unsqueeze(0).to(device), "video": video.unsqueeze(0).to(device)}
    gen = torch.Generator().manual_seed(seed)
    masks = {mod: disjoint_maskings(1, math.prod(method.grids[mod]), method.visible(mod), 1, gen, device)[0]
             for mod in MODALITIES}
    _, _, preds = method.masked_forward(inputs, masks)
    m = method.cfg.model
    out: dict[str, dict[str, torch.Tensor]] = {}
    for mod in MODALITIES:
        x = inputs[mod].float()
        patch, grid = m.audio_patch if mod == "audio" else m.video_patch, method.grids[mod]
        raw = patchify_audio(x, patch) if mod == "audio" else patchify_video(x, patch)
        pred = preds[mod].float()
        if m.norm_pix:
            pred = pred * (raw.var(-1, keepdim=True) + 1e-6).sqrt() + raw.mean(-1, keepdim=True)
        mask = masks[mod].mask.unsqueeze(-1).float()
        unpatch = unpatchify_audio if mod == "audio" else unpatchify_video
        chans = x.shape[1]
        out[mod] = {"input": x[0], "masked": unpatch(raw * (1 - mask), patch, grid, chans)[0],
                    "reconstruction": unpatch(raw * (1 - mask) + pred * mask, patch, grid, chans)[0],
                    "mask": masks[mod].mask[0], "prediction": pred[0]}
    return out


def mavil_reconstruction_png(method: MAViL, audio: torch.Tensor, video: torch.Tensor, path: Path, seed: int = 0,
                             frames: int = 6) -> Path:
    """Three rows (input / masked / reconstruction): the video frames and the Kaldi fbank of one clip."""
    recs = mavil_reconstruct(method, audio, video, seed)
    m, lc = method.cfg.model, method.cfg.loss
    what = f"stage {lc.stage}" + (", EMA variant" if lc.variant == "ema" else "")
    title = (f"MAViL {what}: {m.audio_mask_ratio:.0%} audio / {m.video_mask_ratio:.0%} video masked, "
             "encoders → fusion → decoders")
    if m.norm_pix:
        title += "\n(norm-pix: masked patches shown with the true patch mean and std)"
    return reconstruction_figure(recs, path, title, frames=frames, audio_label="Kaldi fbank")


def load_mavil_checkpoint(path: str | Path) -> MAViL:
    """A MAViL method rebuilt from a ``xmodal pretrain`` checkpoint (its stored config, ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint (give <run>/checkpoints/last.ckpt of a MAViL run)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    config = state.get("xmodal", {}).get("config") if isinstance(state, dict) else None
    if not isinstance(config, dict) or config.get("method") != "mavil":
        found = config.get("method") if isinstance(config, dict) else "no xmodal config"
        raise ValueError(f"{path}: not a MAViL checkpoint of xmodal pretrain ({found}); give "
                         "<run>/checkpoints/last.ckpt of a run with method: mavil")
    cfg = from_dict(MAViLConfig, config)
    check_pixel_targets(cfg)  # before MAViL() would load a stage-2 teacher
    method = MAViL(cfg)
    method.load_state_dict(state["state_dict"])
    return method.eval()


def manifest_clip(method: MAViL, manifest: str | Path, split: str = "test", index: int = 0) -> dict[str, torch.Tensor]:
    """Clip ``index`` of ``split`` in ``manifest``, centred and shaped as the model was trained (Kaldi fbank, fps,
    frames, size: :func:`xmodal.methods.mavil_pretrain.eval_geometry`), without augmentation."""
    rows = read_manifest(manifest).split(split)
    if not 0 <= index < len(rows.rows):
        raise ValueError(f"{manifest}: split {split!r} has {len(rows.rows)} clips, no index {index}")
    geo = EvalGeometry(**eval_geometry(method.cfg))
    video, audio = geo.specs()
    dataset = AVDataset(rows, clip_seconds=geo.clip_seconds, sampling="center", transform=geo.transform(),
                        video=video, audio=audio, on_error="raise")
    return dataset[index]


def reconstruction_from_checkpoint(checkpoint: str | Path, manifest: str | Path, out: str | Path,
                                   split: str = "test", index: int = 0, seed: int = 0) -> Path:
    """``xmodal reconstruct``: the picture of clip ``index`` of ``split`` for a MAViL checkpoint."""
    method = load_mavil_checkpoint(checkpoint)
    clip = manifest_clip(method, manifest, split, index)
    return mavil_reconstruction_png(method, clip["audio"], clip["video"], Path(out), seed=seed)
