"""Where a pretraining method's training clips come from: the fields every method's ``data`` config shares.

Why one class: XKD, MAViL and XDC read clips the same way (a manifest CSV or a registered dataset with its root, a
split, a decoding window and short side, and the bad-input policy of :class:`xmodal.data.dataset.AVDataset`); only
the views cut from a clip differ. Each method subclasses it, adds its views and may change the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from xmodal.config import ConfigError
from xmodal.data.shard_format import is_shard_source


@dataclass
class ClipSourceConfig:
    """``source``: manifest CSV, folder with ``manifest.csv``, dataset name (with ``root``), or streaming shards (a
    folder written by ``xmodal data shard`` or the URL of its ``index.json``; ``shuffle_buffer`` samples are shuffled
    together within a worker's stream, docs/scaling.md); ``clip_seconds``
    window decoded at short side ``decode_size``; ``on_error=skip`` tops batches up from the next decodable clip
    (each bad file counted), ``raise`` stops naming the file; ``short`` and ``missing_audio`` as in ``AVDataset``;
    ``cache`` decodes every clip once into memory (small sets); ``decoder`` reads the original files with PyAV (the
    default and the reference) or torchcodec (``torchcodec``: FFmpeg on the CPU; ``torchcodec-cuda``: NVDEC, with
    ``trainer.num_workers=0``), :mod:`xmodal.data.io_torchcodec`."""

    source: str = ""
    root: str | None = None
    split: str = "train"
    clip_seconds: float = 4.0
    decode_size: int = 128
    on_error: Literal["skip", "raise"] = "skip"
    short: Literal["loop", "pad", "error"] = "loop"
    missing_audio: Literal["error", "silence"] = "error"
    cache: bool = False
    shuffle_buffer: int = 256
    decoder: Literal["pyav", "torchcodec", "torchcodec-cuda"] = "pyav"

    def validate(self) -> None:
        if not self.source:
            raise ConfigError("source: set a manifest CSV path, a dataset name or a shard folder")
        if self.shuffle_buffer < 0:
            raise ConfigError("shuffle_buffer: must be >= 0")
        if self.decoder != "pyav" and is_shard_source(self.source):
            raise ConfigError(f"decoder: {self.decoder} reads original files; a shard source is decoded by the shard "
                              "reader (leave data.decoder=pyav)")
