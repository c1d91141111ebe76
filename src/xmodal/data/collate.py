"""Batch samples (dropping skipped ones) and count what was skipped over an epoch.

Why: with ``on_error="skip"`` a dataset returns :class:`SkippedSample` for a bad file instead of raising, so one
corrupt clip cannot stop a week-long run. The collate removes those records, stacks the rest and keeps the
skipped ``(path, kind)`` pairs in ``batch["skipped"]``; :class:`SkipCounter` accumulates them so the training
loop reports them at the end of every epoch — skipped samples are never silent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from xmodal.data.errors import SkippedSample


def stack_tree(items: Sequence[Any], key: str = "") -> Any:
    """Stack a list of equally structured values: tensors/arrays → stacked tensor, numbers → tensor,
    strings → list, dicts and lists/tuples → the same structure with each leaf stacked."""
    first = items[0]
    if isinstance(first, torch.Tensor):
        try:
            return torch.stack(list(items))
        except RuntimeError as err:
            shapes = sorted({tuple(x.shape) for x in items})
            raise ValueError(f"cannot stack field {key or '<root>'!r}: shapes {shapes}") from err
    if isinstance(first, np.ndarray):
        return stack_tree([torch.from_numpy(np.asarray(x)) for x in items], key)
    if isinstance(first, (bool, int, float, np.number)):
        return torch.tensor([x.item() if isinstance(x, np.number) else x for x in items])
    if isinstance(first, Mapping):
        missing = {k for item in items for k in first if k not in item}
        if missing:
            raise ValueError(f"field {key or '<root>'!r}: samples lack keys {sorted(missing)}")
        return {k: stack_tree([item[k] for item in items], f"{key}.{k}" if key else str(k)) for k in first}
    if isinstance(first, (list, tuple)):
        if any(len(item) != len(first) for item in items):
            raise ValueError(f"field {key or '<root>'!r}: lists of different lengths")
        return [stack_tree([item[j] for item in items], f"{key}[{j}]") for j in range(len(first))]
    return list(items)


def collate_samples(samples: Sequence[Any]) -> dict[str, Any]:
    """``DataLoader`` collate_fn: drop :class:`SkippedSample`, stack the rest, record ``batch["skipped"]``.

    ``batch["skipped"]`` is always present (a list of ``(path, kind)``): the dropped samples, plus the records a
    sample carries in its own ``skipped`` key (a replacement for a bad file, ``AVDataset(on_error="replace")``).
    If every sample was skipped the batch holds only that key.
    """
    kept: list[Any] = []
    skipped: list[tuple[str, str]] = []
    for s in samples:
        if isinstance(s, SkippedSample):
            skipped.append((s.path, s.kind))
        elif isinstance(s, Mapping) and "skipped" in s:
            skipped.extend((str(p), str(k)) for p, k in s["skipped"])
            kept.append({k: v for k, v in s.items() if k != "skipped"})
        else:
            kept.append(s)
    batch: dict[str, Any] = stack_tree(kept) if kept else {}
    batch["skipped"] = skipped
    return batch


def slice_batch(batch: Any, k: int) -> Any:
    """The first ``k`` samples of a collated batch, copied (a small, self-contained batch; ``skipped`` emptied).

    Tensors are cut along dim 0 and cloned (a view would keep the whole batch alive); lists of tensors or dicts
    are structure (e.g. the local views) and are sliced element-wise; other lists (ids) are per-sample.
    """
    if isinstance(batch, torch.Tensor):
        return batch[:k].clone()
    if isinstance(batch, Mapping):
        return {key: [] if key == "skipped" else slice_batch(value, k) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        if batch and isinstance(batch[0], (torch.Tensor, Mapping)):
            return [slice_batch(v, k) for v in batch]
        return list(batch[:k])
    return batch


class SkipCounter:
    """Skipped samples of one epoch: feed it batches, read :meth:`summary` / :meth:`report` at epoch end."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.entries)

    def update(self, batch_or_entries: Mapping[str, Any] | Iterable[Any]) -> None:
        """Add a batch's ``skipped`` list, or an iterable of ``(path, kind)`` pairs / :class:`SkippedSample`."""
        items = batch_or_entries.get("skipped", []) if isinstance(batch_or_entries, Mapping) else batch_or_entries
        for item in items:
            if isinstance(item, SkippedSample):
                self.entries.append((item.path, item.kind))
            else:
                path, kind = item
                self.entries.append((str(path), str(kind)))

    def reset(self) -> None:
        self.entries = []

    def summary(self) -> dict[str, Any]:
        """``{"count": n, "by_kind": {kind: n}, "files": [{"path", "kind", "times"}]}`` (files sorted by path)."""
        per_file = Counter(self.entries)
        return {
            "count": len(self.entries),
            "by_kind": dict(sorted(Counter(kind for _, kind in self.entries).items())),
            "files": [{"path": p, "kind": k, "times": n} for (p, k), n in sorted(per_file.items())],
        }

    def report(self, max_files: int = 10) -> str:
        """One line for logs, e.g. ``skipped 3 samples (corrupt: 2, missing: 1): a.mp4 [corrupt], …``."""
        s = self.summary()
        if not s["count"]:
            return "no samples skipped"
        kinds = ", ".join(f"{k}: {n}" for k, n in s["by_kind"].items())
        files = [f"{f['path']} [{f['kind']}]" for f in s["files"]]
        more = f" … and {len(files) - max_files} more files" if len(files) > max_files else ""
        return f"skipped {s['count']} samples ({kinds}): " + ", ".join(files[:max_files]) + more
