"""MAViL pretraining, stage 1 and stage 2 (Huang et al., NeurIPS 2023, arXiv 2212.08071; MAViL §3).

Per step, for each modality one masking keeps ~20 % of the tokens (view 1) and, for the intra-modal term, a second
masking keeps another ~20 % disjoint from the first (view 2). View 1 goes through the uni-modal encoder, the
fusion encoder and the modality's decoder; view 2 only through the encoder.

- Stage 1 (Eq. 4): ``L_r^raw`` (Eq. 1: MSE on the masked patches, summed over the two modalities)
  ``+ α L_inter + β L_intra`` (Eq. 2–3 on the mean-pooled *pre-fusion* patch tokens).
- Stage 2 (Eq. 6): a frozen stage-1 teacher encodes the complete inputs; its fusion outputs (``target=fusion``,
  MAViL-Fusion), uni-modal encoder outputs (``uni``, MAViL-Uni) or the raw patches (``raw``) are what the
  re-initialized student's decoders regress (Eq. 5), plus the same contrastive terms. A stage-2 run's checkpoint
  can be the teacher of the next stage.
- ``variant=ema`` (App. B, tried and rejected by the paper): one stage whose teacher is the EMA of the encoders;
  raw reconstruction as in stage 1 plus a second decoder per modality regressing the EMA teacher's fusion outputs.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xmodal.losses.contrastive import info_nce
from xmodal.losses.reconstruction import masked_mse
from xmodal.methods.base import BaseMethod
from xmodal.methods.mavil_config import MAViLConfig, grids, visible_tokens
from xmodal.models.decoder import patchify_audio, patchify_video
from xmodal.models.masking import MaskInfo, disjoint_maskings
from xmodal.models.mavil import MAViLEncoder, build_mavil_encoder, mavil_decoder, patch_dim
from xmodal.models.vit import set_grad_checkpointing

MODALITIES = ("audio", "video")


def build_encoder(cfg: MAViLConfig) -> MAViLEncoder:
    m, g = cfg.model, grids(cfg)
    return build_mavil_encoder(m.dim, m.depth, m.heads, audio_patch=m.audio_patch, audio_grid=g["audio"],
                               video_patch=m.video_patch, video_grid=g["video"], fusion=m.fusion,
                               fusion_depth=m.fusion_depth, bottleneck=m.bottleneck, encoder_norm=m.encoder_norm,
                               drop_path=m.drop_path)


def load_teacher(cfg: MAViLConfig) -> MAViLEncoder:
    """The frozen teacher: ``encoder.*`` weights of a MAViL Lightning checkpoint (``.ckpt``, loaded with
    ``weights_only=True``) into this config's architecture, or an exported :class:`MAViLEncoder`."""
    path = Path(cfg.loss.teacher)
    if path.suffix == ".ckpt":
        if not path.is_file():
            raise FileNotFoundError(f"loss.teacher: no checkpoint at {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        weights = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
        teacher = build_encoder(cfg)
        try:
            teacher.load_state_dict(weights, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(f"loss.teacher: {path} does not match model.* of this config ({first}); the teacher "
                             "must have the student's architecture") from err
    else:
        from xmodal.models.export import load_backbone

        teacher = load_backbone(path)  # type: ignore[assignment]
        if not isinstance(teacher, MAViLEncoder):
            raise ValueError(f"loss.teacher: {path} is a {type(teacher).__name__} export, not a MAViL encoder")
    teacher.requires_grad_(False)
    return teacher.eval()


class MAViL(BaseMethod):
    """MAViL stage 1 / stage 2 / one-stage EMA variant, selected by ``cfg.loss``."""

    def __init__(self, cfg: MAViLConfig) -> None:
        lc, m = cfg.loss, cfg.model
        super().__init__(cfg.optim, loss_weights={"inter": lc.alpha, "intra": lc.beta},
                         batch_size=cfg.trainer.batch_size)
        self.cfg = cfg
        self.grids = grids(cfg)
        self.target = "raw" if lc.stage == 1 else lc.target
        self.encoder = build_encoder(cfg)
        patches = {"audio": m.audio_patch, "video": m.video_patch}
        out = {mod: patch_dim(mod, patches[mod]) if self.target == "raw" else m.dim for mod in MODALITIES}
        self.decoders = nn.ModuleDict({mod: self._decoder(out[mod], mod) for mod in MODALITIES})
        self.teacher: MAViLEncoder | None = None
        self.feature_decoders: nn.ModuleDict | None = None
        if lc.variant == "ema":
            self.teacher = copy.deepcopy(self.encoder)
            self.feature_decoders = nn.ModuleDict({mod: self._decoder(m.dim, mod) for mod in MODALITIES})
            self.add_ema_pair(self.encoder, self.teacher, base=lc.ema_base, final=lc.ema_final)
        elif self.target != "raw":
            self.teacher = load_teacher(cfg)
        self.frozen_teacher = lc.variant != "ema" and self.teacher is not None
        set_grad_checkpointing(self, m.grad_checkpointing)

    def _decoder(self, out_dim: int, modality: str) -> nn.Module:
        m = self.cfg.model
        return mavil_decoder(m.dim, m.decoder_dim, m.decoder_depth, m.decoder_heads, out_dim, self.grids[modality])

    def train(self, mode: bool = True) -> MAViL:
        """The frozen stage-1 teacher is always deterministic (eval mode), whatever Lightning switches."""
        super().train(mode)
        if getattr(self, "frozen_teacher", False) and self.teacher is not None:
            self.teacher.eval()
        return self

    def on_train_start(self) -> None:
        """Under DDP each process draws its own masks (every rank was seeded alike); one process is unchanged."""
        if self.trainer.world_size > 1:
            torch.manual_seed(self.cfg.trainer.seed + 1_000_003 * self.global_rank + self.current_epoch)

    # ----------------------------------------------------------------- pieces
    def visible(self, modality: str) -> int:
        m = self.cfg.model
        ratio = m.audio_mask_ratio if modality == "audio" else m.video_mask_ratio
        return visible_tokens(math.prod(self.grids[modality]), ratio, m.visible_rounding)

    def maskings(self, modality: str, batch: int, device: torch.device) -> list[MaskInfo]:
        views = 2 if self.cfg.loss.use_intra else 1
        return disjoint_maskings(batch, math.prod(self.grids[modality]), self.visible(modality), views,
                                 device=device)

    def patchify(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        m = self.cfg.model
        if modality == "audio":
            return patchify_audio(x, m.audio_patch, norm_pix=m.norm_pix)
        return patchify_video(x, m.video_patch, norm_pix=m.norm_pix)

    @torch.no_grad()
    def teacher_targets(self, inputs: dict[str, torch.Tensor], fusion: bool) -> dict[str, torch.Tensor]:
        """Teacher patch-token features of the complete inputs (Eq. 5's ``a^Teacher``, ``v^Teacher``), each
        token standardised over its channels when ``loss.target_norm`` (no affine)."""
        assert self.teacher is not None
        a, v = self.teacher.encode("audio", inputs["audio"]), self.teacher.encode("video", inputs["video"])
        if fusion:
            a, v = self.teacher.fusion(a, v)
        out = {"audio": a[:, 1:], "video": v[:, 1:]}
        if self.cfg.loss.target_norm:
            out = {k: F.layer_norm(t.float(), t.shape[-1:]) for k, t in out.items()}
        return out

    def masked_forward(self, inputs: dict[str, torch.Tensor], masks: dict[str, MaskInfo]) -> tuple[
            dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The masked path of Eq. 1 / Eq. 5: the visible tokens of each modality through its encoder, both through
        the fusion encoder (then its norm), each modality's decoder over all positions. Returns the pre-fusion
        tokens (the contrastive terms pool them), the normed fusion outputs and the decoders' predictions
        ``(B, N, P)`` (raw patches for raw targets, teacher features otherwise)."""
        tokens = {mod: self.encoder.encode(mod, inputs[mod], masks[mod].ids_keep) for mod in MODALITIES}
        a_mm, v_mm = self.encoder.fusion(tokens["audio"], tokens["video"])
        fused = {"audio": self.encoder.fusion.norm(a_mm), "video": self.encoder.fusion.norm(v_mm)}
        preds = {mod: self.decoders[mod](fused[mod], masks[mod].ids_restore) for mod in MODALITIES}
        return tokens, fused, preds

    def compute_losses(self, batch: dict[str, Any], stage: str) -> dict[str, torch.Tensor]:
        lc = self.cfg.loss
        missing = [mod for mod in MODALITIES if not isinstance(batch.get(mod), torch.Tensor)]
        if missing:
            raise ValueError(f"MAViL needs audio and video tensors in every batch; missing {missing}")
        inputs = {mod: batch[mod] for mod in MODALITIES}
        size = inputs["audio"].shape[0]
        masks = {mod: self.maskings(mod, size, inputs[mod].device) for mod in MODALITIES}
        tokens, fused, preds = self.masked_forward(inputs, {mod: masks[mod][0] for mod in MODALITIES})
        if self.target == "raw":
            targets = {mod: self.patchify(mod, inputs[mod]) for mod in MODALITIES}
        else:
            targets = self.teacher_targets(inputs, fusion=self.target == "fusion")
        terms: dict[str, torch.Tensor] = {}
        for mod in MODALITIES:
            mask = masks[mod][0].mask
            if self.target != "raw" and lc.recon_tokens == "all":
                mask = torch.ones_like(mask)
            terms[f"recon_{mod}"] = masked_mse(preds[mod], targets[mod], mask)
        if self.feature_decoders is not None:
            features = self.teacher_targets(inputs, fusion=True)
            for mod in MODALITIES:
                pred = self.feature_decoders[mod](fused[mod], masks[mod][0].ids_restore)
                terms[f"feature_{mod}"] = masked_mse(pred, features[mod], masks[mod][0].mask)
        emb = {mod: tokens[mod][:, 1:].mean(1) for mod in MODALITIES}
        if lc.use_inter:
            terms["inter"] = info_nce(emb["audio"], emb["video"], lc.tau_inter, lc.symmetric)
        if lc.use_intra:
            intra = []
            for mod in MODALITIES:
                second = self.encoder.encode(mod, inputs[mod], masks[mod][1].ids_keep)[:, 1:].mean(1)
                intra.append(info_nce(emb[mod], second, lc.tau_intra, lc.symmetric))
            terms["intra"] = 0.5 * (intra[0] + intra[1])
        return terms
