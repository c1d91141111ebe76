"""XKD views built on the accelerator: loader workers only decode and draw, the pixel work runs batched on device.

Why: building the views and log-mels costs the CPU more than decoding (issue 18: the full loader runs at
0.38–0.53× decode-only on sources already at training geometry), so a fast GPU fed by a node's CPU cores would wait
on them. With ``data.augment_on=device`` a worker runs :class:`DecodedWithDraws`: the decoded clip plus every random
choice of :meth:`~xmodal.data.views.XKDViews.draw`, drawn from the sample's own seed exactly as the CPU path draws
them (the choices depend only on shapes). :class:`DeviceXKDViews` then applies them to the whole batch on the
device. The same seed gives the same views as :class:`~xmodal.data.views.XKDViews` up to float rounding
(``tests/data/test_device_views.py``).

What is batched: frame gathering, flip, colour jitter (each of the four ops runs once per position of the random
order, on the clips that have it there, with per-clip factors), grey, blur (per-clip banded matrices in one batched
matmul), normalization, the waveform windows, volume gain and the log-mel. The crop-and-resize of each video view
and the spectrogram crop are one ``interpolate`` per clip on the device: their output sizes agree but their input
boxes differ, and antialiased resizing has no batched form with per-sample boxes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xmodal.data import video_transforms as vt
from xmodal.data.audio_transforms import apply_spec_crop
from xmodal.data.collate import collate_samples
from xmodal.data.features import LogMel
from xmodal.data.views import AudioDraw, AudioViewConfig, VideoDraw, VideoViewConfig, XKDViews, XKDViewsConfig


def pack_video_draw(d: VideoDraw) -> dict[str, Tensor]:
    """Tensors of one video view's choices (collatable; unused jitter/blur fields are zeros)."""
    order, factors = d.aug.jitter if d.aug.jitter is not None else ([0, 1, 2, 3], [0.0] * 4)
    return {
        "idx": d.idx,
        "box": torch.tensor(d.aug.box),
        "flip": torch.tensor(d.aug.flip),
        "jitter": torch.tensor(d.aug.jitter is not None),
        "order": torch.tensor(order),
        # float32 as the CPU ops use them (a Python factor is applied in the tensor's dtype); σ stays float64
        # because the CPU path builds its kernel from the float64 value
        "factors": torch.tensor(factors, dtype=torch.float32),
        "gray": torch.tensor(d.aug.gray),
        "sigma": torch.tensor(d.aug.sigma if d.aug.sigma is not None else 0.0, dtype=torch.float64),
        "blur": torch.tensor(d.aug.sigma is not None),
    }


def pack_audio_draw(d: AudioDraw) -> dict[str, Tensor]:
    return {
        "start": torch.tensor(d.start),
        "gain": torch.tensor(d.gain, dtype=torch.float32),
        "crop": torch.tensor(d.crop if d.crop is not None else (0, 0, 0, 0)),
    }


class DecodedWithDraws:
    """Worker-side transform for ``augment_on=device``: the decoded clip and the packed choices of ``views``
    drawn from the sample's seed (``raw["seed"]``, as :class:`~xmodal.methods.pretrain_data.SeededViews`)."""

    def __init__(self, views: XKDViews) -> None:
        self.views = views

    def __call__(self, raw: dict[str, Any]) -> dict[str, Any]:
        draws = self.views.draw(raw, torch.Generator().manual_seed(int(raw["seed"])))
        decoded: dict[str, Tensor] = {}
        packed: dict[str, Any] = {}
        if "video" in draws:
            decoded["video"] = raw["video"]
            d = draws["video"]
            packed["video"] = {"global": pack_video_draw(d["global"]),
                              "local": [pack_video_draw(x) for x in d["local"]]}
        if "audio" in draws:
            decoded["audio"] = raw["audio"].to(torch.float32)
            d = draws["audio"]
            packed["audio"] = {"global": pack_audio_draw(d["global"]),
                              "local": [pack_audio_draw(x) for x in d["local"]]}
        return {"decoded": decoded, "draws": packed}


def collate_decoded(samples: Sequence[Any]) -> dict[str, Any]:
    """:func:`~xmodal.data.collate.collate_samples` that first zero-pads decoded frames to the batch's largest
    ``H × W`` (a short-side resize keeps each source's aspect ratio); every crop box was drawn inside its own
    clip's frame, so the padding is never read."""
    shapes = [s["decoded"]["video"].shape for s in samples if isinstance(s, dict) and "video" in s.get("decoded", {})]
    if len({tuple(x) for x in shapes}) > 1:
        h, w = max(x[1] for x in shapes), max(x[2] for x in shapes)
        for s in samples:
            if isinstance(s, dict) and "video" in s.get("decoded", {}):
                v = s["decoded"]["video"]
                s["decoded"]["video"] = F.pad(v, (0, 0, 0, w - v.shape[2], 0, h - v.shape[1]))
    return collate_samples(samples)


def _on_subset(video: Tensor, mask: Tensor, fn: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """``video`` with ``fn(video[sel], sel)`` written back at the clips where ``mask`` (a CPU bool tensor) holds."""
    sel = mask.nonzero().squeeze(1)
    if sel.numel() == 0:
        return video
    sel_dev = sel.to(video.device)
    video[sel_dev] = fn(video[sel_dev], sel)
    return video


class DeviceXKDViews(nn.Module):
    """Batched :meth:`XKDViews.apply` on whatever device the batch is on (the log-mel buffers follow the module)."""

    def __init__(self, cfg: XKDViewsConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.logmel = LogMel(cfg.logmel)

    def _video(self, frames: Tensor, d: dict[str, Tensor], vcfg: VideoViewConfig) -> Tensor:
        host = {k: v.cpu() for k, v in d.items() if k != "idx"}  # small: one transfer, then plain indexing
        size = (vcfg.size, vcfg.size)
        clips = []
        for b, (top, left, h, w) in enumerate(host["box"].tolist()):
            part = frames[b, :, top : top + h, left : left + w][d["idx"][b]]
            clips.append(vt.crop_resize_frames(part, (0, 0, h, w), size))
        video = torch.stack(clips)
        video = _on_subset(video, host["flip"], lambda v, _: vt.hflip(v))
        factors = d["factors"].view(-1, 4, 1, 1, 1, 1)
        for pos in range(4):
            for k, op in enumerate(vt.COLOR_OPS):
                mask = host["jitter"] & (host["order"][:, pos] == k)
                video = _on_subset(video, mask, lambda v, sel, op=op, k=k: op(v, factors[sel.to(v.device), k]))
        video = _on_subset(video, host["gray"], lambda v, _: vt.rgb_to_grayscale(v))
        video = _on_subset(video, host["blur"], lambda v, sel: self._blur(v, host["sigma"][sel]))
        return vt.normalize(video, self.cfg.mean, self.cfg.std)

    @staticmethod
    def _blur(video: Tensor, sigmas: Tensor) -> Tensor:
        """:func:`~xmodal.data.video_transforms.gaussian_blur` with one σ per clip, as two batched matmuls."""
        h, w = video.shape[-2:]
        kernels = [vt.blur_kernel(float(s), h, w) for s in sigmas]
        mw = torch.stack([vt.reflect_blur_matrix(w, k) for k in kernels]).to(video)[:, None, None]
        mh = torch.stack([vt.reflect_blur_matrix(h, k) for k in kernels]).to(video)[:, None, None]
        return mh.transpose(-1, -2) @ (video @ mw)

    def _audio(self, wave: Tensor, d: dict[str, Tensor], acfg: AudioViewConfig) -> Tensor:
        count = round(acfg.seconds * self.cfg.logmel.sample_rate)
        idx = (d["start"].to(wave.device)[:, None] + torch.arange(count, device=wave.device)) % wave.shape[-1]
        # contiguous as the collated CPU views are (the log-mel is a transposed view): the patch embedding's
        # convolution would otherwise run on (B, 1, T, F)-strided memory
        spec = self.logmel(wave.gather(1, idx) * d["gain"].to(wave.device)[:, None]).contiguous()
        if not acfg.random_crop:
            return spec
        crops = d["crop"].tolist()
        return torch.stack([apply_spec_crop(spec[b], tuple(c), acfg.crop_canvas) for b, c in enumerate(crops)])

    def forward(self, decoded: dict[str, Tensor], draws: dict[str, Any]) -> dict[str, dict[str, Any]]:
        cfg, out = self.cfg, {}
        if "video" in draws:
            frames, d = decoded["video"], draws["video"]
            out["video"] = {
                "global": self._video(frames, d["global"], cfg.video_global),
                "local": [self._video(frames, x, cfg.video_local) for x in d["local"]],
            }
        if "audio" in draws:
            wave, d = decoded["audio"], draws["audio"]
            out["audio"] = {
                "global": self._audio(wave, d["global"], cfg.audio_global),
                "local": [self._audio(wave, x, cfg.audio_local) for x in d["local"]],
            }
        return out
