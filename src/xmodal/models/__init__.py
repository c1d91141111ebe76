"""Backbones, embeddings, MAE masking/decoder, projector heads, backbone export and released-XKD conversion."""

from xmodal.models.decoder import MAEDecoder, patchify_audio, patchify_video, unpatchify_audio, unpatchify_video
from xmodal.models.embed import CuboidEmbed, PatchEmbed2d
from xmodal.models.export import export_backbone, load_backbone
from xmodal.models.hub import export_run, from_pretrained, save_pretrained
from xmodal.models.masking import MaskInfo, random_masking
from xmodal.models.official_xkd import convert_official_xkd, export_official_xkd, load_official_xkd
from xmodal.models.projector import DINOHead
from xmodal.models.vit import VisionTransformer, vit, vit_base, vit_large, vit_small, vit_tiny

__all__ = [
    "CuboidEmbed",
    "DINOHead",
    "MAEDecoder",
    "MaskInfo",
    "PatchEmbed2d",
    "VisionTransformer",
    "convert_official_xkd",
    "export_backbone",
    "export_official_xkd",
    "export_run",
    "from_pretrained",
    "load_backbone",
    "load_official_xkd",
    "patchify_audio",
    "patchify_video",
    "random_masking",
    "save_pretrained",
    "unpatchify_audio",
    "unpatchify_video",
    "vit",
    "vit_base",
    "vit_large",
    "vit_small",
    "vit_tiny",
]
