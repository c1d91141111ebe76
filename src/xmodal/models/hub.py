"""Hugging Face-style model folders: ``model.safetensors`` + ``config.json`` + ``README.md`` (the model card).

The layout people already share weights in (the ``transformers`` / ``huggingface_hub`` convention) so a backbone
can be uploaded to a model hub or copied between machines as one folder, and loaded back with one call,
:func:`from_pretrained`. ``config.json`` is the xmodal export document of :mod:`xmodal.models.export` (class,
constructor config, parameter count, training metadata) with ``weights`` naming ``model.safetensors``; no
pickle anywhere. :func:`export_run` turns a pretraining run's ``export/`` pairs into such folders, each with a
model card (:mod:`xmodal.models.model_card`) built from the run's ``config.yaml``.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from xmodal.models.export import build_from_doc, export_backbone, read_export_doc
from xmodal.models.model_card import model_card, online_monitor

log = logging.getLogger(__name__)
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"


def save_pretrained(model: nn.Module, folder: str | Path, card: str = "",
                    metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a Hugging Face-style folder (``card`` becomes ``README.md`` when given)."""
    out = Path(folder)
    _, config = export_backbone(model, out / "model", metadata=metadata)
    doc = json.loads(config.read_text())
    config.unlink()
    doc["weights"] = WEIGHTS
    (out / CONFIG).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    if card:
        (out / CARD).write_text(card)
    return out


def from_pretrained(folder: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the backbone saved in ``folder`` (:func:`save_pretrained` / ``xmodal export``), strict load."""
    path = Path(folder)
    config = path / CONFIG
    if not config.is_file():
        raise FileNotFoundError(f"{path}: no {CONFIG}; give a folder written by xmodal export or by the end of "
                                "xmodal pretrain (<run>/hf/<name>/)")
    return build_from_doc(read_export_doc(config), config, path / WEIGHTS, device)


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The config a run started with (``config.yaml``, written by the trainer), or ``{}`` for a bare export folder."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return {}
    doc = yaml.safe_load(path.read_text()) or {}
    return doc.get("config", doc) if isinstance(doc, dict) else {}


def export_run(run_dir: str | Path, out: str | Path, probes: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """Every backbone of ``<run_dir>/export/`` as ``<out>/<name>/`` with a model card; returns name → folder.

    ``probes``: evaluation results (``xmodal eval ... --json``) to print in the cards; the weights are copied
    byte for byte, so a folder holds exactly what the run exported."""
    run = Path(run_dir)
    source = run / "export"
    pairs = sorted(source.glob("*.json")) if source.is_dir() else []
    if not pairs:
        raise FileNotFoundError(f"{source}: no backbone exports (<name>.json + <name>.safetensors); give the out_dir "
                                "of a finished xmodal pretrain run")
    run_config = read_run_config(run)
    written: dict[str, str] = {}
    for config in pairs:
        doc = read_export_doc(config)
        weights = config.with_suffix(".safetensors")
        if not weights.is_file():
            raise FileNotFoundError(f"{weights}: missing beside {config.name}; re-export the run")
        folder = Path(out) / config.stem
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights, folder / WEIGHTS)
        (folder / CONFIG).write_text(json.dumps({**doc, "weights": WEIGHTS}, indent=2, sort_keys=True) + "\n")
        card = model_card(config.stem, doc, run_config, probes or [], online_monitor(run, config.stem))
        (folder / CARD).write_text(card)
        written[config.stem] = str(folder)
    log.info("exported %d backbone(s) of %s to %s", len(written), run, out)
    return written
