"""XKD: masked audio/video reconstruction + cross-modal distillation with domain alignment (XKD §3, Alg. 1).

One code path gives XKD (modality-specific backbones), XKD-MAS (shared student backbone), XKD-MATS (shared
student and teacher backbones; Table S5), the MAE baselines of Table 1 (V-MAE, A-MAE, AV-MAE) and the
ablations of Tables 3–4 (no L_da, no L_kd, no refine). Input projections (patch/cuboid embeddings, positional
embeddings) and decoders are always modality-specific.

Per step (Alg. 1): students encode the masked global views (only visible tokens) and decoders reconstruct the
masked tokens (L_ae, Eq. 1–2). Teachers (EMA of students, Eq. 13) encode the full global views (the first
local views with ``loss.teacher_view=local``, as the official code) and return the last block's CLS attention
(Eq. 3), from which cross-modal attention (Eq. 4) re-weights the teacher tokens
(refine, Eq. 5–6). Projected teacher features set the targets of the cross-modal students (Eq. 10–11); the
students' global features come from the masked view (as in the official code) and local views are added
(multi-crop). MMD aligns video and audio features of students and of teachers (Eq. 7–9).
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import torch
from torch import nn

from xmodal.data.device_views import DeviceXKDViews
from xmodal.losses.alignment import cross_modal_attention, domain_alignment_loss, refine
from xmodal.losses.distillation import (
    kd_cross_entropy,
    kl_teacher_student,
    teacher_entropy,
    teacher_temperature,
    update_center,
)
from xmodal.losses.reconstruction import masked_mse
from xmodal.methods.base import BaseMethod
from xmodal.methods.xkd_config import (
    MODALITIES,
    TRIM_TOLERANCE,
    PretrainConfig,
    backbone_dims,
    dropped_fraction,
    trim_message,
    view_grids,
)
from xmodal.models.decoder import MAEDecoder, patchify_audio, patchify_video
from xmodal.models.embed import CuboidEmbed, PatchEmbed2d
from xmodal.models.masking import random_masking
from xmodal.models.projector import DINOHead
from xmodal.models.vit import VisionTransformer, set_grad_checkpointing, xavier_init

COLLAPSE_STEPS = 20  # consecutive steps with L_kd or the teacher–student KL at ~0 before the collapse warning
DA_PARTS = {"da": 2, "da1": 2, "da2": 4, "student": 1, "teacher": 1}  # MMD terms summed by each L_da mode


class XKD(BaseMethod):
    """XKD and its variants/baselines; ``cfg.loss.objective`` picks xkd | vmae | amae | avmae."""

    def __init__(self, cfg: PretrainConfig) -> None:
        lc = cfg.loss
        super().__init__(
            cfg.optim,
            loss_weights={"ae": lc.lambda_ae, "da": lc.lambda_da, "kd": lc.lambda_kd},
            normalize_weights=lc.normalize_weights,
            batch_size=cfg.trainer.batch_size,
        )
        self.cfg = cfg
        m = cfg.model
        self.modalities = MODALITIES[lc.objective]
        self.distill = lc.objective == "xkd" and (lc.use_kd or lc.use_da)
        grids = view_grids(cfg)
        self.grids = grids
        self._trim_warned: set[str] = set()
        students: dict[str, nn.Module] = {}
        self.decoders = nn.ModuleDict()
        for mod in self.modalities:
            bcfg = m.video if mod == "video" else m.audio
            dim, depth, heads = backbone_dims(bcfg)
            if mod == "video":
                embed: nn.Module = CuboidEmbed(3, m.video_patch, dim)
                patch_dim = 3 * math.prod(m.video_patch)
            else:
                embed = PatchEmbed2d(1, m.audio_patch, dim)
                patch_dim = math.prod(m.audio_patch)
            students[mod] = VisionTransformer(
                embed, dim, depth, heads, grid=grids[f"{mod}_global"], drop_path=bcfg.drop_path,
                qkv_bias=m.qkv_bias, ln_eps=m.ln_eps,
            )
            self.decoders[mod] = MAEDecoder(
                dim, m.decoder_dim, m.decoder_depth, m.decoder_heads, patch_dim, grid=grids[f"{mod}_global"],
                qkv_bias=m.qkv_bias, ln_eps=m.ln_eps, final_norm=m.decoder_norm,
            )
            if m.init == "xavier":  # the official code's (MAE's) init; ViT blocks otherwise keep trunc-normal(0.02)
                students[mod].blocks.apply(xavier_init)
                self.decoders[mod].apply(xavier_init)
        if m.variant != "xkd" and len(self.modalities) == 2:
            _share_trunk(students["audio"], students["video"])
        self.student = nn.ModuleDict(students)
        if self.distill:
            self.head = nn.ModuleDict(
                {
                    mod: DINOHead(backbone_dims(m.video if mod == "video" else m.audio)[0], m.proj_out,
                                  hidden=m.proj_hidden, bottleneck=m.proj_bottleneck, norm=m.proj_norm,
                                  share_norm=m.proj_norm_shared, out_norm=m.proj_out_norm)
                    for mod in self.modalities
                }
            )
            if m.variant != "xkd":
                self.head["audio"] = self.head["video"]
            self.teacher = copy.deepcopy(self.student)
            self.teacher_head = copy.deepcopy(self.head)
            if m.variant == "mas":
                self.teacher["audio"] = _with_own_trunk(self.teacher["audio"])
                self.teacher_head["audio"] = copy.deepcopy(self.teacher_head["audio"])
            self.add_ema_pair(
                nn.ModuleDict({"b": self.student, "h": self.head}),
                nn.ModuleDict({"b": self.teacher, "h": self.teacher_head}),
                base=lc.ema_base,
                final=lc.ema_final,
            )
            self.register_buffer("center_video", torch.zeros(1, m.proj_out))
            self.register_buffer("center_audio", torch.zeros(1, m.proj_out))
        self._collapse_run: torch.Tensor | None = None
        self._collapse_warned = False
        set_grad_checkpointing(self, m.grad_checkpointing)
        self.device_views = DeviceXKDViews(cfg.data.views) if cfg.data.augment_on == "device" else None

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """``data.augment_on=device``: the batch holds decoded clips and the views' drawn choices; build the views
        here, batched on the device, so the loader workers only decode."""
        if self.device_views is not None and isinstance(batch, dict) and "draws" in batch:
            batch = dict(batch)
            batch.update(self.device_views(batch.pop("decoded"), batch.pop("draws")))
        return batch

    def on_train_start(self) -> None:
        """Under DDP, give each process its own random stream so ranks draw different masks (every rank was seeded
        alike); a single process keeps its stream, so single-process runs are unchanged."""
        if self.trainer.world_size > 1:
            torch.manual_seed(self.cfg.trainer.seed + 1_000_003 * self.global_rank + self.current_epoch)

    # ----------------------------------------------------------------- pieces
    def teacher_temp(self, modality: str) -> float:
        """Teacher temperature: cosine from start to end (Table S8) over ``teacher_temp_epochs`` (−1: the run)."""
        lc = self.cfg.loss
        start, end = lc.video_teacher_temp if modality == "video" else lc.audio_teacher_temp
        if self._trainer is None:
            return start
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = None
        if lc.teacher_temp_epochs > 0:
            warmup = max(1, int(total * lc.teacher_temp_epochs / max(1, self.trainer.max_epochs or 1)))
        return teacher_temperature(self.global_step, total, start, end, warmup=warmup)

    def _mask_ratio(self, modality: str) -> float:
        m = self.cfg.model
        return m.video_mask_ratio if modality == "video" else m.audio_mask_ratio

    def _patchify(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        m = self.cfg.model
        if modality == "video":
            return patchify_video(x, m.video_patch, norm_pix=m.norm_pix)
        return patchify_audio(x, m.audio_patch, norm_pix=m.norm_pix)

    def masked_reconstruction(self, modality: str, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encode only visible tokens of the global view, decode all, MSE on the masked ones (Eq. 1)."""
        student = self.student[modality]
        n = math.prod(self.grids[f"{modality}_global"])
        info = random_masking(x.shape[0], n, self._mask_ratio(modality), device=x.device,
                              rounding=self.cfg.model.mask_rounding)
        tokens = student(x, mask_keep_ids=info.ids_keep)
        pred = self.decoders[modality](tokens, info.ids_restore)
        loss = masked_mse(pred.float(), self._patchify(modality, x).float(), info.mask)
        return {"loss": loss, "tokens": tokens, "pred": pred, "mask": info.mask}

    @staticmethod
    def _pool(tokens: torch.Tensor) -> torch.Tensor:
        """Projector input: the mean of patch tokens, CLS excluded (official code)."""
        return tokens[:, 1:].mean(1)

    def _teacher_targets(self, xv: torch.Tensor, xa: torch.Tensor) -> dict[str, torch.Tensor]:
        """Teachers on full (unmasked) views, the global ones unless ``loss.teacher_view=local``; cross-modal
        attention + refine (Eq. 3–6); projected (no grad)."""
        lc = self.cfg.loss
        with torch.no_grad():
            query = "cls" if lc.refine_cls else "mean"
            tv, att_v = self.teacher["video"](xv, return_attention=True, attention_query=query)
            ta, att_a = self.teacher["audio"](xa, return_attention=True, attention_query=query)
            if lc.use_refine:
                ax_v, ax_a = cross_modal_attention(att_v, att_a, mode=lc.refine_attention)
                pv = refine(tv[:, 1:], ax_v, omega=lc.refine_omega).mean(1)
                pa = refine(ta[:, 1:], ax_a, omega=lc.refine_omega).mean(1)
            else:
                pv, pa = self._pool(tv), self._pool(ta)
            out = {"video": self.teacher_head["video"](pv), "audio": self.teacher_head["audio"](pa),
                   "att_video": att_v, "att_audio": att_a}
        return out

    def _student_outputs(self, modality: str, masked_tokens: torch.Tensor, locals_: list[torch.Tensor]) -> torch.Tensor:
        """Projected student features: masked global view first, then each local view (Alg. 1 l. 13–14)."""
        feats = [self._pool(masked_tokens)]
        feats += [self._pool(self.student[modality](x)) for x in locals_]
        return self.head[modality](torch.cat(feats, 0))

    # ----------------------------------------------------------------- objective
    def _trim(self, modality: str, x: torch.Tensor, view: str = "global") -> torch.Tensor:
        """Drop trailing frames/rows that do not fill a whole patch. Validation rejects a config that loses more
        than 10 % of a view this way; inputs built outside it (another loader, a hand-made config) get one warning
        per view, since a silent loss of, e.g., 28 → 16 log-mel frames quietly trains on part of the view."""
        patch = self.cfg.model.video_patch if modality == "video" else self.cfg.model.audio_patch
        dims = tuple(x.shape[2:])
        keep = [d - d % p for d, p in zip(dims, patch, strict=True)]
        if keep == list(dims):
            return x
        name = f"{modality}_{view}"
        if name not in self._trim_warned and dropped_fraction(dims, patch) > TRIM_TOLERANCE:
            self._trim_warned.add(name)
            warnings.warn(f"XKD input {trim_message(self.cfg, name, dims)}", stacklevel=2)
        index = (slice(None), slice(None), *(slice(0, k) for k in keep))
        return x[index]

    def compute_losses(self, batch: dict[str, Any], stage: str) -> dict[str, torch.Tensor]:
        lc = self.cfg.loss
        views = {
            mod: {"global": self._trim(mod, batch[mod]["global"]),
                  "local": [self._trim(mod, x, "local") for x in batch[mod].get("local", [])]}
            for mod in self.modalities
        }
        rec = {mod: self.masked_reconstruction(mod, views[mod]["global"]) for mod in self.modalities}
        terms: dict[str, torch.Tensor] = {"ae": sum(r["loss"] for r in rec.values())}  # type: ignore[dict-item]
        for mod, r in rec.items():
            self.log(f"train/recon_{mod}", r["loss"].detach(), batch_size=views[mod]["global"].shape[0])
        if not self.distill:
            return self._official_means(terms) if lc.normalize_weights else terms
        xv, xa = views["video"]["global"], views["audio"]["global"]
        if lc.teacher_view == "local":  # the official code's teachers see frames[1] / specs[1], the first local view
            teacher = self._teacher_targets(views["video"]["local"][0], views["audio"]["local"][0])
        else:  # paper (§3.2, §4.1, Alg. 1 l. 9): teachers see the global views
            teacher = self._teacher_targets(xv, xa)
        student = {
            mod: self._student_outputs(mod, rec[mod]["tokens"], list(views[mod].get("local", [])))
            for mod in ("video", "audio")
        }
        if lc.use_da:
            terms["da"] = domain_alignment_loss(
                student["video"], student["audio"], teacher["video"], teacher["audio"],
                mode=lc.da_mode, kernel=lc.mmd_kernel, bandwidths=lc.mmd_bandwidths, estimator=lc.mmd_estimator,
                gather="auto" if lc.mmd_gather else False,
            )
        tv_temp, ta_temp = self.teacher_temp("video"), self.teacher_temp("audio")
        if lc.use_kd:
            a2v = self._multi_view_kd(student["video"], teacher["audio"], self.center_audio, ta_temp)
            v2a = self._multi_view_kd(student["audio"], teacher["video"], self.center_video, tv_temp)
            terms["kd"] = lc.kd_a2v_weight * a2v + lc.kd_v2a_weight * v2a
            self._monitor_collapse(terms["kd"], student, teacher, tv_temp, ta_temp, xv.shape[0])
        self.center_video.copy_(update_center(self.center_video, teacher["video"], lc.center_momentum))
        self.center_audio.copy_(update_center(self.center_audio, teacher["audio"], lc.center_momentum))
        return self._official_means(terms) if lc.normalize_weights else terms

    def _official_means(self, terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Official weighting, part 1: each term is the *mean* of its parts (``recon_loss = (vid + aud) / 2``, the
        same for the two MMDs and the two KD directions in ``XKD_Net.forward``); part 2, the division by Σλ, is
        :meth:`BaseMethod.total_loss`. Together: (5·ΣL_rec + ΣL_da + ΣL_kd) / 14."""
        parts = {"ae": len(self.modalities), "da": DA_PARTS[self.cfg.loss.da_mode], "kd": 2}
        return {name: value / parts[name] for name, value in terms.items()}

    def _multi_view_kd(
        self, student: torch.Tensor, teacher: torch.Tensor, center: torch.Tensor, teacher_temp: float
    ) -> torch.Tensor:
        """Eq. 11 averaged over the student's views: (V·B, K) student logits against (B, K) teacher logits."""
        views = student.split(teacher.shape[0])
        losses = [
            kd_cross_entropy(v, teacher, center, student_temp=self.cfg.loss.student_temp, teacher_temp=teacher_temp)
            for v in views
        ]
        return torch.stack(losses).mean()

    def _monitor_collapse(
        self, kd: torch.Tensor, student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor],
        tv_temp: float, ta_temp: float, batch: int,
    ) -> None:
        """Track L_kd, teacher–student KL and teacher entropies (§B.5); warn when either loss falls to ~0."""
        lc = self.cfg.loss
        with torch.no_grad():
            b = teacher["video"].shape[0]
            kl_v = kl_teacher_student(student["video"][:b], teacher["audio"], self.center_audio,
                                      student_temp=lc.student_temp, teacher_temp=ta_temp)
            kl_a = kl_teacher_student(student["audio"][:b], teacher["video"], self.center_video,
                                      student_temp=lc.student_temp, teacher_temp=tv_temp)
            ent_a, marg_a = teacher_entropy(teacher["audio"], self.center_audio, ta_temp)
            ent_v, marg_v = teacher_entropy(teacher["video"], self.center_video, tv_temp)
        kl = (kl_v + kl_a).detach()
        log = {"kld": kl, "teacher_entropy_audio": ent_a, "teacher_entropy_video": ent_v,
               "teacher_marginal_entropy_audio": marg_a, "teacher_marginal_entropy_video": marg_v}
        for name, value in log.items():
            self.log(f"monitor/{name}", value, batch_size=batch)
        # The run length of collapsed steps stays on the device; the host reads it only every `monitor_every`
        # steps (one sync), so the monitor costs no GPU stall on the other steps.
        collapsed = (kd.detach() < 1e-3) | (kl < 1e-4)
        run = self._collapse_run if self._collapse_run is not None else torch.zeros((), device=kd.device)
        self._collapse_run = torch.where(collapsed, run + 1, torch.zeros_like(run))
        every = self.cfg.loss.monitor_every
        if every > 0 and self.global_step % every == 0:
            steps = int(self._collapse_run.item())
            if steps >= COLLAPSE_STEPS and not self._collapse_warned:
                warnings.warn(
                    f"XKD collapse suspected at step {self.global_step}: L_kd < 1e-3 or KL < 1e-4 for the last {steps} "
                    "steps (XKD §B.5). Check projector normalization, L_da and centering.",
                    stacklevel=2,
                )
            self._collapse_warned = steps >= COLLAPSE_STEPS

    def clip_parameters(self) -> list[nn.Parameter]:
        """Per-tensor clipping covers the students (backbones and projector heads), not the decoders, as the
        official ``XKD_Net.clip_gradients`` (it loops over ``vid_student``/``aud_student`` only)."""
        modules = [self.student, *([self.head] if self.distill else [])]
        unique = {id(p): p for mod in modules for p in mod.parameters() if p.requires_grad}
        return list(unique.values())

    # ----------------------------------------------------------------- export / inspection
    def backbone(self, modality: str, which: str = "student") -> nn.Module:
        return (self.teacher if which == "teacher" else self.student)[modality]


def _share_trunk(target: nn.Module, source: nn.Module) -> None:
    """XKD-MAS/MATS: the audio ViT uses the video ViT's blocks, final norm and CLS token (Table S5)."""
    target.blocks = source.blocks
    target.norm = source.norm
    target.cls_token = source.cls_token


def _with_own_trunk(vit: nn.Module) -> nn.Module:
    """Un-share a ViT's trunk (XKD-MAS teachers are modality-specific even though students share)."""
    vit.blocks = copy.deepcopy(vit.blocks)
    vit.norm = copy.deepcopy(vit.norm)
    vit.cls_token = nn.Parameter(vit.cls_token.detach().clone(), requires_grad=False)
    return vit
