"""Adapters from the real on-disk layouts of standard audio-visual and image–text datasets to a ``DatasetIndex``.

Each ``load_<name>(root, split=None, *, fold=1, check_files=False)`` only parses annotation files and file names
(no decoding), so indexing a dataset is fast and a bad annotation line fails with its file and line number.
``REGISTRY`` maps the names used by ``xmodal data check <name> --root DIR`` to the loaders; ``load`` calls one
the way that command does. Every index says in ``meta`` which on-disk layout was recognised and which rows were
left out and why (``_report``; ``describe`` renders it). docs/data.md describes every layout, split and class order.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

from xmodal.data.dataset import DatasetIndex
from xmodal.data.datasets._report import SKIP_REASONS, describe
from xmodal.data.datasets.audioset import load_audioset
from xmodal.data.datasets.ave import load_ave
from xmodal.data.datasets.cremad import load_cremad
from xmodal.data.datasets.crisismmd import load_crisismmd
from xmodal.data.datasets.esc50 import load_esc50
from xmodal.data.datasets.fsd50k import load_fsd50k
from xmodal.data.datasets.hmdb51 import load_hmdb51
from xmodal.data.datasets.kinetics import KINETICS_SOUND_CLASSES, load_kinetics400, load_kinetics_sound
from xmodal.data.datasets.mmimdb import load_mmimdb
from xmodal.data.datasets.ravdess import load_ravdess
from xmodal.data.datasets.ucf101 import load_ucf101
from xmodal.data.datasets.vggsound import load_vggsound

REGISTRY: dict[str, Callable[..., DatasetIndex]] = {
    "kinetics400": load_kinetics400,
    "kinetics_sound": load_kinetics_sound,
    "audioset": load_audioset,
    "vggsound": load_vggsound,
    "ucf101": load_ucf101,
    "hmdb51": load_hmdb51,
    "esc50": load_esc50,
    "fsd50k": load_fsd50k,
    "cremad": load_cremad,
    "ave": load_ave,
    "ravdess": load_ravdess,
    "crisismmd": load_crisismmd,  # image–text
    "mmimdb": load_mmimdb,  # image–text, multi-label
}



def load(
    name: str,
    root: str | Path,
    *,
    split: str | None = None,
    modalities: Sequence[str] = ("video", "audio"),
    check_files: bool = True,
) -> DatasetIndex:
    """The registered dataset ``name``, with the files that serve ``modalities``: audio files for an audio-only
    check (``media="audio"`` / RAVDESS ``modality="audio"``), video containers otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(REGISTRY)}")
    loader = REGISTRY[name]
    params = inspect.signature(loader).parameters
    audio_only = tuple(modalities) == ("audio",)
    options: dict[str, str] = {}
    if "media" in params:
        options["media"] = "audio" if audio_only else "video"
    if "modality" in params and audio_only:
        options["modality"] = "audio"
    return loader(root, split, check_files=check_files, **options)


__all__ = [
    "KINETICS_SOUND_CLASSES",
    "REGISTRY",
    "SKIP_REASONS",
    "describe",
    "load",
    "load_audioset",
    "load_ave",
    "load_cremad",
    "load_crisismmd",
    "load_esc50",
    "load_fsd50k",
    "load_hmdb51",
    "load_kinetics400",
    "load_kinetics_sound",
    "load_mmimdb",
    "load_ravdess",
    "load_ucf101",
    "load_vggsound",
]
