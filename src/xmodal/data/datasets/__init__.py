"""Adapters from the real on-disk layouts of standard audio-visual datasets to a ``DatasetIndex``.

Each ``load_<name>(root, split=None, *, fold=1, check_files=False)`` only parses annotation files and file names
(no decoding), so indexing a dataset is fast and a bad annotation line fails with its file and line number.
``REGISTRY`` maps the names used by ``xmodal data check <name> --root DIR`` to the loaders; docs/data.md
describes every layout, split and class order.
"""

from __future__ import annotations

from collections.abc import Callable

from xmodal.data.dataset import DatasetIndex
from xmodal.data.datasets.audioset import load_audioset
from xmodal.data.datasets.ave import load_ave
from xmodal.data.datasets.cremad import load_cremad
from xmodal.data.datasets.esc50 import load_esc50
from xmodal.data.datasets.fsd50k import load_fsd50k
from xmodal.data.datasets.hmdb51 import load_hmdb51
from xmodal.data.datasets.kinetics import KINETICS_SOUND_CLASSES, load_kinetics400, load_kinetics_sound
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
}

__all__ = [
    "KINETICS_SOUND_CLASSES",
    "REGISTRY",
    "load_audioset",
    "load_ave",
    "load_cremad",
    "load_esc50",
    "load_fsd50k",
    "load_hmdb51",
    "load_kinetics400",
    "load_kinetics_sound",
    "load_ravdess",
    "load_ucf101",
    "load_vggsound",
]
