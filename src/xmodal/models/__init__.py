"""Backbones, embeddings, MAE masking/decoder, projector heads and backbone export."""

from xmodal.models.decoder import MAEDecoder, patchify_audio, patchify_video, unpatchify_audio, unpatchify_video
from xmodal.models.embed import CuboidEmbed, PatchEmbed2d
from xmodal.models.export import export_backbone, load_backbone
from xmodal.models.masking import MaskInfo, random_masking
from xmodal.models.projector import DINOHead
from xmodal.models.vit import VisionTransformer, vit, vit_base, vit_large, vit_small, vit_tiny

__all__ = [
    "CuboidEmbed",
    "DINOHead",
    "MAEDecoder",
    "MaskInfo",
    "PatchEmbed2d",
    "VisionTransformer",
    "export_backbone",
    "load_backbone",
    "patchify_audio",
    "patchify_video",
    "random_masking",
    "unpatchify_audio",
    "unpatchify_video",
    "vit",
    "vit_base",
    "vit_large",
    "vit_small",
    "vit_tiny",
]
