"""Dataset rows (``ManifestRow``/``DatasetIndex``), the generic manifest CSV, and the clip dataset ``AVDataset``.

Why this shape: layout adapters (Kinetics, AudioSet, ...) and the manifest reader all produce one
``DatasetIndex``, so one dataset class serves every source. ``AVDataset`` decodes only the requested modalities,
samples clip starts deterministically from ``(seed, epoch, index)`` (reproducible runs, different clips every
epoch), and never lets one bad file stop a run without saying so:

- ``on_error="skip"`` (evaluation) returns a :class:`SkippedSample`, which
  :func:`xmodal.data.collate.collate_samples` drops and records: a bad file is counted, not fatal;
- ``on_error="replace"`` (training) tops the batch up: the bad row is replaced by the next decodable row (cyclic
  order, with the clip start and augmentation seed of the original slot) and its ``(path, kind)`` travels in the
  sample's ``skipped`` list, so it is still counted. Batches keep their size, which matters under DDP (every
  rank runs the same collectives on full batches) and for batch-statistic layers (BatchNorm refuses one sample);
- ``on_error="raise"`` raises the :class:`MediaError` naming the file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from xmodal.data.collate import stack_tree
from xmodal.data.errors import MediaError, SkippedSample
from xmodal.data.io import AudioSpec, Clip, Short, VideoSpec, fit_length, probe
from xmodal.data.io_torchcodec import Decoder, clip_decoder


@dataclass
class ManifestRow:
    path: str
    labels: list[int]
    split: str
    start: float | None = None
    end: float | None = None
    id: str = ""
    text: str = ""  # the paired text of image–text rows (``path`` is then the image); empty for clips


@dataclass
class DatasetIndex:
    name: str
    rows: list[ManifestRow]
    classes: list[str]
    multilabel: bool = False
    root: str = ""
    meta: dict = field(default_factory=dict)

    def split(self, name: str) -> DatasetIndex:
        rows = [r for r in self.rows if r.split == name]
        if not rows:
            known = sorted({r.split for r in self.rows})
            raise ValueError(f"dataset {self.name!r} has no rows in split {name!r}; splits: {known}")
        return replace(self, rows=rows)


def row_path(index: DatasetIndex, row: ManifestRow) -> str:
    """The row's file: absolute paths as they are, relative ones under ``index.root``."""
    return str(Path(index.root) / row.path) if index.root else row.path


def _parse_labels(csv_path: Path, raw: list[tuple[int, list[str]]], classes: list[str] | None) -> tuple:
    """Map label tokens (class names or integer ids) to indices; classes come from the sidecar or the tokens."""
    tokens = [t for _, ts in raw for t in ts]
    if classes is None:
        if all(t.lstrip("-").isdigit() for t in tokens):
            classes = [str(i) for i in range(max((int(t) for t in tokens), default=-1) + 1)]
        else:
            classes = sorted(set(tokens))
    lookup = {name: i for i, name in enumerate(classes)}
    out = []
    for line, ts in raw:
        ids: list[int] = []
        for t in ts:
            idx = lookup.get(t, int(t) if t.lstrip("-").isdigit() else -1)
            if not 0 <= idx < len(classes):
                detail = f"line {line}: unknown label {t!r} ({len(classes)} classes)"
                raise MediaError(str(csv_path), "bad_label", detail)
            if idx not in ids:
                ids.append(idx)
        out.append(ids)
    return out, classes


def _float_or_none(csv_path: Path, line: int, name: str, text: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise MediaError(str(csv_path), "bad_row", f"line {line}: {name} {text!r} is not a number") from None
    if not np.isfinite(value) or value < 0:
        raise MediaError(str(csv_path), "bad_row", f"line {line}: {name} {text!r} must be a finite time >= 0")
    return value


def read_manifest(csv_path: str | Path, *, check_paths: bool = False) -> DatasetIndex:
    """Read ``path,label|labels,split[,start,end,id,text]``; paths are relative to the CSV's folder.

    ``labels`` (``;``-separated) makes the index multi-label. A sidecar ``<name>.json`` or ``manifest.json``
    next to the CSV may give ``{"classes": [...], "meta": {...}}``. A malformed row or unknown label raises
    ``MediaError`` (``bad_row``/``bad_label``) naming the CSV and line; ``check_paths`` also rejects rows whose
    file does not exist.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise MediaError(str(csv_path), "missing", "manifest CSV")
    sidecar: dict[str, Any] = {}
    for candidate in (csv_path.with_suffix(".json"), csv_path.with_name("manifest.json")):
        if candidate.is_file():
            try:
                sidecar = json.loads(candidate.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise MediaError(str(candidate), "bad_row", f"manifest sidecar is not valid JSON: {err}") from err
            break
    root = csv_path.parent.resolve()
    raw: list[tuple[int, list[str]]] = []
    rows: list[ManifestRow] = []
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, skipinitialspace=True)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        label_col = "labels" if "labels" in header else "label"
        if "path" not in header or label_col not in header:
            raise MediaError(str(csv_path), "bad_row", f"line 1: header needs path and label or labels, got {header}")
        for rec in reader:
            line = reader.line_num
            if None in rec or any(v is None for v in rec.values()):
                raise MediaError(str(csv_path), "bad_row", f"line {line}: expected {len(header)} fields")
            path = rec["path"].strip()
            split = rec.get("split", "train").strip()
            if not path or not split:
                raise MediaError(str(csv_path), "bad_row", f"line {line}: empty path or split")
            if check_paths and not (root / path).is_file():
                raise MediaError(str(csv_path), "bad_row", f"line {line}: file {root / path} does not exist")
            start = _float_or_none(csv_path, line, "start", rec.get("start", ""))
            end = _float_or_none(csv_path, line, "end", rec.get("end", ""))
            if start is not None and end is not None and end <= start:
                raise MediaError(str(csv_path), "bad_row", f"line {line}: end {end} <= start {start}")
            cell = rec[label_col].strip()
            tokens = [t.strip() for t in cell.split(";") if t.strip()] if label_col == "labels" else [cell] * bool(cell)
            raw.append((line, tokens))
            rows.append(ManifestRow(path, [], split, start, end, rec.get("id", "").strip(), rec.get("text", "")))
    labels, classes = _parse_labels(csv_path, raw, sidecar.get("classes"))
    for row, ids in zip(rows, labels, strict=True):
        row.labels = ids
    return DatasetIndex(
        name=str(sidecar.get("name", csv_path.parent.name or csv_path.stem)),
        rows=rows,
        classes=[str(c) for c in classes],
        multilabel=label_col == "labels" or bool(sidecar.get("multilabel", False)),
        root=str(root),
        meta=dict(sidecar.get("meta", {})),
    )


def resolve_index(spec: str, root: str | None = None) -> DatasetIndex:
    """A manifest CSV, a folder holding ``manifest.csv``, or a registered adapter name (with ``root``)."""
    path = Path(spec)
    if path.is_dir() and (path / "manifest.csv").is_file():
        return read_manifest(path / "manifest.csv")
    if path.suffix.lower() == ".csv" or path.is_file():
        return read_manifest(path)
    try:
        from xmodal.data.datasets import REGISTRY
    except ModuleNotFoundError as err:
        if err.name != "xmodal.data.datasets":
            raise
        REGISTRY = {}
    if spec in REGISTRY:
        if root is None:
            raise ValueError(f"dataset {spec!r} needs its root folder (--root DIR)")
        return REGISTRY[spec](root, split=None)
    raise ValueError(f"{spec!r} is not a manifest CSV, a folder with manifest.csv, or a dataset {sorted(REGISTRY)}")


def _default_transform(raw: dict[str, Any]) -> dict[str, Any]:
    """uint8 (T, H, W, 3) → float (C, T, H, W) in [0, 1]; audio stays a (samples,) waveform."""
    out: dict[str, Any] = {}
    if raw.get("video") is not None:
        out["video"] = raw["video"].permute(3, 0, 1, 2).float().div_(255.0)
    if raw.get("audio") is not None:
        out["audio"] = raw["audio"]
    return out


class AVDataset(Dataset):
    """Clips of ``clip_seconds`` from each row of a :class:`DatasetIndex`; see the module docstring.

    ``transform`` receives ``{"video": uint8 (T,H,W,3), "audio": float (samples,), "fps", "sample_rate", "seed"}``
    (only requested modalities; ``seed`` is derived from (seed, epoch, index, clip) for deterministic
    augmentation) and returns the final fields; ``label``, ``index`` and ``id`` are added after it. With
    ``num_clips > 1`` every field gets a leading clip dimension. ``cache=True`` decodes each row's whole segment
    once and cuts clips from memory (for small sets such as the demo; call :meth:`preload` before forking
    workers so they share it). ``decoder`` selects PyAV or torchcodec (:mod:`xmodal.data.io_torchcodec`).
    Transform errors are code bugs and propagate; decoding errors follow ``on_error``
    (with ``"replace"``, ``max_replacements`` bad rows in a row raise one error that names the first file).
    """

    def __init__(
        self,
        index: DatasetIndex,
        *,
        modalities: Sequence[str] = ("video", "audio"),
        clip_seconds: float,
        video: VideoSpec | None = None,
        audio: AudioSpec | None = None,
        sampling: Literal["random", "center", "uniform"] = "random",
        num_clips: int = 1,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        on_error: Literal["skip", "replace", "raise"] = "skip",
        max_replacements: int = 64,
        short: Short = "loop",
        missing_audio: Literal["error", "silence"] = "error",
        seed: int = 0,
        cache: bool = False,
        decoder: Decoder = "pyav",
    ) -> None:
        if not modalities or set(modalities) - {"video", "audio"}:
            raise ValueError(f"modalities must be a non-empty subset of ('video', 'audio'), got {modalities}")
        checks = {"sampling": (sampling, ("random", "center", "uniform")),
                  "on_error": (on_error, ("skip", "replace", "raise")),
                  "short": (short, ("loop", "pad", "error")), "missing_audio": (missing_audio, ("error", "silence"))}
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if clip_seconds <= 0 or num_clips < 1 or (sampling == "center" and num_clips > 1):
            raise ValueError("need clip_seconds > 0 and num_clips >= 1 (num_clips == 1 for center sampling)")
        self.index = index
        self.modalities = tuple(modalities)
        self.clip_seconds = float(clip_seconds)
        self.video = (video or VideoSpec()) if "video" in modalities else None
        self.audio = (audio or AudioSpec()) if "audio" in modalities else None
        self.sampling, self.num_clips, self.transform = sampling, num_clips, transform
        self.on_error, self.short, self.missing_audio = on_error, short, missing_audio
        self.seed, self.cache, self.max_replacements = int(seed), cache, int(max_replacements)
        self.decoder, self.decode_clip = decoder, clip_decoder(decoder)
        self._bad: dict[int, MediaError] = {}  # per process: rows known to fail (a bad file is decoded once)
        self._epoch = torch.zeros((), dtype=torch.long).share_memory_()  # seen by persistent workers too
        self._segments: dict[int, tuple[float, float]] = {}
        self._clips: dict[int, Clip | MediaError] = {}

    def __len__(self) -> int:
        return len(self.index.rows)

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(int(epoch))

    def path(self, i: int) -> str:
        return row_path(self.index, self.index.rows[i])

    def _decode(self, path: str, start: float, end: float | None) -> Clip:
        try:
            return self.decode_clip(path, start, end, video=self.video, audio=self.audio, short=self.short)
        except MediaError as err:
            if err.kind != "no_audio" or self.missing_audio == "error":
                raise
        if self.video is None:  # audio-only request on a file without audio: silence by the user's choice
            stop = probe(path).duration if end is None else end
            clip = Clip(None, None, None, None, start, stop, path)
        else:
            clip = self.decode_clip(path, start, end, video=self.video, audio=None, short=self.short)
        assert self.audio is not None
        clip.sample_rate = self.audio.sample_rate
        clip.audio = torch.zeros(round((clip.end - start) * clip.sample_rate))
        return clip

    def _segment(self, i: int, path: str) -> tuple[float, float]:
        """The row's ``[start, end)`` in seconds (end from the file's duration when the row has none)."""
        if i not in self._segments:
            row = self.index.rows[i]
            start = row.start or 0.0
            end = row.end if row.end is not None else probe(path).duration
            if end <= start:
                raise MediaError(path, "too_short", f"segment [{start:.3f}, {end:.3f}) is empty")
            self._segments[i] = (start, end)
        return self._segments[i]

    def _cached(self, i: int, path: str) -> Clip:
        if i not in self._clips:
            row = self.index.rows[i]
            try:
                clip = self._decode(path, row.start or 0.0, row.end)
                self._segments[i] = (clip.start, clip.end)
                self._clips[i] = clip
            except MediaError as err:
                self._clips[i] = err
        hit = self._clips[i]
        if isinstance(hit, MediaError):
            raise hit
        return hit

    def preload(self) -> None:
        """Decode every row into the cache now (``cache=True``), so forked workers share it."""
        for i in range(len(self)):
            try:
                self._cached(i, self.path(i))
            except MediaError:
                continue

    def clip_starts(self, i: int, seg_start: float, seg_end: float) -> np.ndarray:
        room = max(0.0, seg_end - seg_start - self.clip_seconds)
        if self.sampling == "random":
            rng = np.random.default_rng([self.seed, self.epoch, i])
            return seg_start + rng.random(self.num_clips) * room
        if self.sampling == "uniform" and self.num_clips > 1:
            return seg_start + np.linspace(0.0, room, self.num_clips)
        return np.array([seg_start + room / 2])

    def _cut(self, whole: Clip, start: float) -> Clip:
        offset, end = start - whole.start, start + self.clip_seconds
        video = audio = None
        if whole.video is not None and whole.fps:
            k0, n = round(offset * whole.fps), round(self.clip_seconds * whole.fps)
            part = whole.video.numpy()[k0 : k0 + n]
            video = torch.from_numpy(fit_length(part, len(part), n, self.short, rate=whole.fps, path=whole.path,
                                                what="video"))
        if whole.audio is not None and whole.sample_rate:
            i0, n = round(offset * whole.sample_rate), round(self.clip_seconds * whole.sample_rate)
            part = whole.audio.numpy()[i0 : i0 + n]
            audio = torch.from_numpy(fit_length(part, len(part), n, self.short, rate=whole.sample_rate,
                                                path=whole.path, what="audio"))
        return Clip(video, audio, whole.fps, whole.sample_rate, start, end, whole.path)

    def _label(self, row: ManifestRow) -> int | torch.Tensor:
        if self.index.multilabel:
            hot = torch.zeros(len(self.index.classes))
            hot[row.labels] = 1.0
            return hot
        return row.labels[0] if row.labels else -1

    def _load(self, i: int, row_i: int) -> dict[str, Any]:
        """Clips of row ``row_i`` with the clip starts and augmentation seeds of slot ``i`` (equal unless replaced)."""
        row, path = self.index.rows[row_i], self.path(row_i)
        if self.cache:
            return self.sample_from_segment(i, row_i, row, self._cached(row_i, path))
        starts = self.clip_starts(i, *self._segment(row_i, path))
        clips = [self._decode(path, float(s), float(s) + self.clip_seconds) for s in starts]
        return self._assemble(i, row_i, row, clips)

    def sample_from_segment(self, i: int, row_i: int, row: ManifestRow, whole: Clip) -> dict[str, Any]:
        """Sample of slot ``i`` cut from row ``row_i``'s whole decoded segment ``whole``: the clip starts, seeds and
        transform of ``cache=True``. Streaming shards (:mod:`xmodal.data.shard_dataset`) call it with the segment
        they stored, so a shard sample is built by the very code that builds one from the original file."""
        clips = [self._cut(whole, float(s)) for s in self.clip_starts(i, whole.start, whole.end)]
        return self._assemble(i, row_i, row, clips)

    def _assemble(self, i: int, row_i: int, row: ManifestRow, clips: list[Clip]) -> dict[str, Any]:
        outs = []
        for c, clip in enumerate(clips):
            seed = int(np.random.SeedSequence([self.seed, self.epoch, i, c]).generate_state(1)[0])
            raw: dict[str, Any] = {"fps": clip.fps, "sample_rate": clip.sample_rate, "seed": seed}
            if clip.video is not None:
                raw["video"] = clip.video
            if clip.audio is not None:
                raw["audio"] = clip.audio
            outs.append((self.transform or _default_transform)(raw))
        sample = stack_tree(outs) if self.num_clips > 1 else outs[0]
        sample.update(label=self._label(row), index=row_i, id=row.id or row.path)
        return sample

    def _attempt(self, row_i: int, i: int) -> dict[str, Any] | MediaError:
        """Load row ``row_i`` for slot ``i``, or the row's MediaError (remembered, so a bad file is decoded once)."""
        known = self._bad.get(row_i)
        if known is not None:
            return known
        try:
            return self._load(i, row_i)
        except MediaError as err:
            self._bad[row_i] = err
            return err

    def __getitem__(self, i: int) -> dict[str, Any] | SkippedSample:
        if self.on_error == "raise":
            return self._load(i, i)
        result = self._attempt(i, i)
        if not isinstance(result, MediaError):
            return result
        if self.on_error == "skip":
            return SkippedSample(i, result.path, result.kind, str(result))
        # Only the slot's own file is recorded: a bad row met while walking on is counted when its own slot comes.
        for step in range(1, min(len(self), self.max_replacements + 1)):
            candidate = self._attempt((i + step) % len(self), i)
            if not isinstance(candidate, MediaError):
                candidate["skipped"] = [(result.path, result.kind)]
                return candidate
        tried = min(len(self), self.max_replacements + 1) - 1
        raise MediaError(result.path, result.kind, f"and the {tried} rows after it could not be decoded either "
                         f"({self.index.name!r}); run `xmodal data check` on the dataset")
