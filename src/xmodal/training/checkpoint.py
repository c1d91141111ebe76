"""Checkpoint I/O that never leaves a half-written file and never unpickles arbitrary objects.

Saving writes to a temporary file in the same folder, fsyncs it and renames it over the target (atomic on
POSIX), so a run killed mid-save keeps its previous checkpoint. Loading uses ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = True) -> dict:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


def load_weights(path: str | Path) -> dict[str, Any]:
    """Read an xmodal checkpoint safely (tensors and plain data only)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)
