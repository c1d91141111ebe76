"""Frozen features for every evaluation protocol: extraction, per-video clip averaging, caching, file I/O.

XKD §A.5: features are the mean of the last-layer patch tokens (CLS excluded); a training video contributes
N augmented clips (25 for UCF101/HMDB51, 10-epochs' worth for ESC-50) and a test video M uniformly spaced
clips (3; 8 for FSD50K), averaged per video. The loader decides which clips it yields; this module averages
every feature seen for an ``id`` over all clips and all ``train_passes`` passes.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

Pooling = Literal["features", "mean_patch", "cls", "mean_all"]
BackboneLike = nn.Module | Callable[[], nn.Module] | str | Path


@dataclass
class FeatureSet:
    """Rows of frozen features. ``labels`` is (N,) class indices or (N, C) multi-hot; ``split`` holds
    ``train``/``val``/``test``; ``fold`` (optional) numbers ESC-50-style cross-validation folds."""

    features: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    split: np.ndarray
    fold: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.features = np.ascontiguousarray(self.features, dtype=np.float32)
        self.ids = np.asarray(self.ids).astype(str)
        self.split = np.asarray(self.split).astype(str)
        n = self.features.shape[0]
        for name in ("labels", "ids", "split"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, features have {n}")

    @property
    def multilabel(self) -> bool:
        return self.labels.ndim == 2

    @property
    def num_classes(self) -> int:
        return int(self.labels.shape[1]) if self.multilabel else int(self.labels.max()) + 1

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def subset(self, mask: np.ndarray) -> FeatureSet:
        fold = None if self.fold is None else self.fold[mask]
        return FeatureSet(self.features[mask], self.labels[mask], self.ids[mask], self.split[mask], fold)

    def by_split(self, *names: str) -> FeatureSet:
        return self.subset(np.isin(self.split, names))

    def has_split(self, name: str) -> bool:
        return bool((self.split == name).any())

    @property
    def clip_rows(self) -> bool:
        """True when some id has several rows (one per clip, ``average_clips=False``)."""
        return len(np.unique(self.ids)) < len(self.ids)

    def mean_by_id(self) -> FeatureSet:
        """One row per id: the mean of its clip rows (XKD §A.5 averages clip features per video); label, split
        and fold come from the id's first row and must agree across its rows."""
        if not self.clip_rows:
            return self
        uniq, first, feats = mean_by_id(self.features, self.ids)
        inv = np.searchsorted(uniq, self.ids)
        for name, col in (("labels", self.labels), ("split", self.split)):
            if not np.array_equal(col[first][inv], col):
                raise ValueError(f"clip rows of one id disagree on {name}; every clip of a video needs the same")
        fold = None if self.fold is None else self.fold[first]
        return FeatureSet(feats, self.labels[first], self.ids[first], self.split[first], fold)


def mean_by_id(values: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sorted unique ids, index of each id's first row, per-id mean of values)``; values are (N, ...)."""
    uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    sums = np.zeros((len(uniq), *values.shape[1:]), dtype=np.float64)
    np.add.at(sums, inv, values)
    counts = np.bincount(inv, minlength=len(uniq)).reshape(-1, *([1] * (values.ndim - 1)))
    return uniq, first, (sums / counts).astype(values.dtype)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


def save_features(path: str | Path, fs: FeatureSet) -> Path:
    """Write ``features``, ``labels``, ``ids``, ``split`` (+ ``fold``) as ``.npz`` or ``.safetensors``.

    safetensors holds only tensors, so ids and split go into its string metadata as JSON lists.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"features": fs.features, "labels": fs.labels}
    if fs.fold is not None:
        arrays["fold"] = np.asarray(fs.fold)
    if path.suffix == ".safetensors":
        from safetensors.numpy import save_file

        meta = {"ids": json.dumps(fs.ids.tolist()), "split": json.dumps(fs.split.tolist())}
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path), metadata=meta)
    else:
        np.savez(path, ids=fs.ids, split=fs.split, **arrays)
    return path


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``; a file numpy cannot parse as one is a ``ValueError`` naming it."""
    try:
        z = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: unreadable feature file ({err}); expected an .npz or .safetensors with "
                         "features, labels and split arrays (docs/evaluation.md)") from err
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not an .npz with features, labels and split arrays")
    with z:
        return {k: z[k] for k in z.files}


def load_features(path: str | Path, key: str = "features") -> FeatureSet:
    """Read a precomputed feature file; ``key`` picks the feature array (e.g. ``audio_features``)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a mapping)
                meta = f.metadata() or {}
        except SafetensorError as err:
            raise ValueError(f"{path}: unreadable safetensors feature file ({err})") from err
        ids = np.asarray(json.loads(meta["ids"])) if "ids" in meta else np.arange(len(arrays[key])).astype(str)
        split = np.asarray(json.loads(meta["split"])) if "split" in meta else np.full(len(ids), "train")
    else:
        arrays = _read_npz(path)
        ids, split = arrays.get("ids"), arrays.get("split")
        if ids is None:
            ids = np.arange(len(arrays[key])).astype(str)
        if split is None:
            raise ValueError(f"{path}: no 'split' array (train/val/test per row)")
    if key not in arrays:
        raise KeyError(f"{path}: no {key!r} array; has {sorted(arrays)}")
    return FeatureSet(arrays[key], arrays["labels"], ids, split, arrays.get("fold"))


def module_hash(module: nn.Module) -> str:
    """sha256 over parameter names and bytes, for caching features of an in-memory backbone."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def resolve_backbone(backbone: BackboneLike) -> nn.Module:
    """An nn.Module as is; a path through ``xmodal.models.load_backbone``; any other callable is called."""
    if isinstance(backbone, nn.Module):
        return backbone
    if isinstance(backbone, (str, Path)):
        from xmodal.models import load_backbone  # lazy: the models package is optional for precomputed features

        return load_backbone(backbone)
    return backbone()


def pool(backbone: nn.Module, x: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """``features`` uses the backbone's own pooling (mean of patch tokens, XKD §A.5); the others read the
    token sequence ``forward(x) -> (B, 1+N, D)`` whose first token is CLS."""
    if pooling == "features":
        return backbone.features(x)
    tokens = backbone(x)
    if pooling == "cls":
        return tokens[:, 0]
    if pooling == "mean_all":
        return tokens.mean(dim=1)
    return tokens[:, 1:].mean(dim=1)


@torch.no_grad()
def extract_features(
    backbone: BackboneLike,
    loader: Iterable[dict[str, Any]],
    *,
    modality: Literal["video", "audio"],
    device: str | torch.device = "cpu",
    clips_per_video: int | None = None,
    amp_bf16: bool = True,
    train_passes: int = 1,
    split: str = "test",
    pooling: Pooling = "features",
    average_clips: bool = True,
    on_pass: Callable[[int], None] | None = None,
    skipped: list[tuple[str, str]] | None = None,
) -> FeatureSet:
    """Embed every sample; average all clips of a video over ``train_passes`` passes (XKD §A.5).

    A batch tensor of shape (B, K, ...) holds K clips per video (one more dim than the single-clip layout);
    ``clips_per_video`` asserts K so a card that says 3 clips cannot silently be computed on 1. With
    ``average_clips=False`` every clip stays a row (ids repeat). ``on_pass(p)`` runs before pass ``p`` (e.g.
    ``dataset.set_epoch``, so every pass draws new clips and augmentations). bf16 autocast on CUDA only.
    Undecodable samples dropped by ``collate_samples`` (``batch["skipped"]``; a batch may hold nothing else) are
    appended to ``skipped`` as ``(path, kind)`` so callers can report them.
    """
    model = resolve_backbone(backbone).to(device).eval()
    single_ndim = 5 if modality == "video" else 4
    dev = torch.device(device)
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    labels: dict[str, np.ndarray] = {}
    rows: list[tuple[str, np.ndarray, np.ndarray]] = []
    for pass_idx in range(train_passes):
        if on_pass is not None:
            on_pass(pass_idx)
        for batch in loader:
            if skipped is not None:
                skipped.extend(tuple(item) for item in batch.get("skipped", []))
            if modality not in batch:
                continue
            x = batch[modality]
            k = x.shape[1] if x.ndim == single_ndim + 1 else 1
            if clips_per_video is not None and k != clips_per_video:
                raise ValueError(f"loader yields {k} clips per video, protocol says {clips_per_video}")
            b = x.shape[0]
            flat = x.reshape(b * k, *x.shape[x.ndim - single_ndim + 1 :]).to(dev, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp_bf16 and dev.type == "cuda"):
                f = pool(model, flat, pooling)
            f = f.float().reshape(b, k, -1).cpu().numpy()
            lab = torch.as_tensor(batch["label"]).cpu().numpy()
            for i, vid in enumerate(batch["id"]):
                if not average_clips:
                    rows.extend((vid, f[i, j], lab[i]) for j in range(k))
                    continue
                sums[vid] = sums.get(vid, 0.0) + f[i].sum(axis=0)
                counts[vid] = counts.get(vid, 0) + k
                labels[vid] = lab[i]
    if not rows and not sums:
        raise ValueError(f"no {modality} sample could be read from the loader (all skipped or empty)")
    if not average_clips:
        ids = np.asarray([r[0] for r in rows])
        feats, labs = np.stack([r[1] for r in rows]), np.stack([r[2] for r in rows])
    else:
        ids = np.asarray(list(sums))
        feats = np.stack([sums[v] / counts[v] for v in ids])
        labs = np.stack([labels[v] for v in ids])
    return FeatureSet(feats, labs, ids, np.full(len(ids), split))


def cache_key(checkpoint_hash: str, data_key: str, protocol: dict[str, Any]) -> str:
    """Features change with the weights, the data and the extraction protocol; the key hashes all three."""
    blob = json.dumps({"ckpt": checkpoint_hash, "data": data_key, "protocol": protocol}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cached(cache_dir: str | Path | None, key: str, compute: Callable[[], FeatureSet]) -> FeatureSet:
    """Return ``cache_dir/key.npz`` when present, else compute, store and return it."""
    if cache_dir is None:
        return compute()
    path = Path(cache_dir) / f"{key}.npz"
    if path.exists():
        return load_features(path)
    fs = compute()
    tmp = path.with_name(f"{key}.tmp.npz")
    save_features(tmp, fs)
    tmp.replace(path)
    return fs
