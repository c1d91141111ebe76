"""The on-disk format of xmodal's streaming shards: webdataset tars plus one ``index.json``.

Why this shape: a tar of consecutive samples is read front to back with large sequential reads (local disk, NFS,
HTTP, object storage through ``webdataset.gopen``), which is what keeps many GPUs fed; the ``index.json`` holds
what a streaming reader cannot learn without reading every shard — the number of samples per shard (so every rank
gets the same number of samples per epoch), the geometry the clips were decoded at, the classes, and a hash of the
source rows. Each sample is one dataset row's whole segment (``<key>.json`` metadata plus ``<key>.mp4``/``.flac``
in ``h264`` mode or ``<key>.video.npy``/``.audio.npy`` in ``raw`` mode), decoded once at the training geometry, so
training cuts its random clip windows from it exactly as ``AVDataset(cache=True)`` cuts them from the original file.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import soundfile as sf
from av.video.reformatter import VideoReformatter

FORMAT = "xmodal-shards/1"
INDEX_NAME = "index.json"
Encoding = Literal["h264", "raw"]


@dataclass(frozen=True)
class ShardGeometry:
    """What each stored segment is: ``fps`` and short side ``size`` of the video, ``sample_rate`` of the mono audio,
    ``encoding`` h264 (libx264, 4:4:4 so odd frame sizes need no padding, quality ``crf``) + 16-bit FLAC, or raw
    uint8 frames + float32 audio (exact, ~20x larger)."""

    fps: float = 8.0
    size: int = 128
    sample_rate: int = 16000
    modalities: tuple[str, ...] = ("video", "audio")
    encoding: Encoding = "h264"
    crf: int = 18

    def validate(self) -> None:
        if not self.modalities or set(self.modalities) - {"video", "audio"}:
            raise ValueError(f"modalities must be a non-empty subset of ('video', 'audio'), got {self.modalities}")
        if self.encoding not in ("h264", "raw"):
            raise ValueError(f"encoding must be 'h264' or 'raw', got {self.encoding!r}")
        if self.fps <= 0 or self.size <= 0 or self.sample_rate <= 0 or not 0 <= self.crf <= 51:
            raise ValueError("need fps, size, sample_rate > 0 and 0 <= crf <= 51")


@dataclass
class ShardIndex:
    """Contents of ``index.json``; ``splits[name]["shards"]`` lists ``{"url": relative name, "samples": n}``."""

    name: str
    classes: list[str]
    multilabel: bool
    geometry: ShardGeometry
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""
    source_hash: str = ""
    skipped: list[dict[str, Any]] = field(default_factory=list)
    base: str = ""  # where the shards live (the folder or URL prefix of index.json); not stored

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("base")
        data["geometry"]["modalities"] = list(self.geometry.modalities)
        return json.dumps({"format": FORMAT, **data}, indent=1) + "\n"

    def shard_urls(self, split: str) -> list[str]:
        return [join_url(self.base, s["url"]) for s in self.split(split)["shards"]]

    def counts(self, split: str) -> list[int]:
        return [int(s["samples"]) for s in self.split(split)["shards"]]

    def split(self, name: str) -> dict[str, Any]:
        if name not in self.splits:
            raise ValueError(f"{self.base}: the shards hold no split {name!r}; splits: {sorted(self.splits)}")
        return self.splits[name]


def join_url(base: str, name: str) -> str:
    if not base or "://" in name or name.startswith("/"):
        return name
    return f"{base.rstrip('/')}/{name}"


def is_url(source: str) -> bool:
    """What webdataset's ``gopen`` opens rather than the file system: ``scheme://...`` or ``pipe:COMMAND``."""
    return "://" in source or source.startswith("pipe:")


def is_shard_source(source: str) -> bool:
    """A folder with ``index.json``, a local ``index.json``, or a URL of one."""
    path = Path(source)
    return (path.is_dir() and (path / INDEX_NAME).is_file()) or source.endswith(INDEX_NAME) or is_url(source)


def read_index(source: str) -> ShardIndex:
    """The :class:`ShardIndex` of a shard folder or the path/URL of its ``index.json`` (URLs through webdataset)."""
    path = Path(source)
    target = str(path / INDEX_NAME) if path.is_dir() else source
    try:
        if is_url(target):
            from webdataset.gopen import gopen

            with gopen(target) as fh:
                text = fh.read().decode("utf-8")
        else:
            text = Path(target).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as err:
        raise ValueError(f"{target}: cannot read the shard index ({err}); write shards with `xmodal data shard`") \
            from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{target}: not an xmodal shard index (format {FORMAT!r}); write it with `xmodal data shard`")
    geometry = dict(data["geometry"], modalities=tuple(data["geometry"]["modalities"]))
    return ShardIndex(name=data["name"], classes=list(data["classes"]), multilabel=bool(data["multilabel"]),
                      geometry=ShardGeometry(**geometry), splits=data["splits"], source=data.get("source", ""),
                      source_hash=data.get("source_hash", ""), skipped=data.get("skipped", []),
                      base=target.rsplit("/", 1)[0] if "/" in target else ".")


def rows_hash(rows: list[Any], classes: list[str]) -> str:
    """sha256 of the source rows (path, labels, split, start, end, id) and classes: identifies what was sharded,
    for a manifest CSV and a dataset adapter alike."""
    payload = json.dumps({"classes": classes, "rows": [[r.path, r.labels, r.split, r.start, r.end, r.id]
                                                      for r in rows]}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def encode_h264(frames: np.ndarray, fps: float, crf: int) -> bytes:
    """uint8 (T, H, W, 3) RGB → MP4 bytes (libx264 4:4:4, one thread: the writer parallelises over processes)."""
    rate = Fraction(fps).limit_denominator(1001)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": "veryfast",
                                                                     "x264-params": "threads=1"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        stream.codec_context.time_base = 1 / rate
        for k, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = k, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def decode_h264(data: bytes, frames: int, stop: int | None = None) -> np.ndarray:
    """MP4 bytes → uint8 (T, H, W, 3) RGB: the first ``stop`` (default all ``frames``) stored frames, in order.
    Decoding stops there: the frames after the last clip window a sample needs are never decoded."""
    want = frames if stop is None else min(frames, stop)
    out: list[np.ndarray] = []
    # One swscale context for the sample: the same pixels as ``frame.to_ndarray(format="rgb24")``, which builds a
    # context per frame and costs about 3x more per frame at shard size (the conversion dominated shard reading).
    reformatter = VideoReformatter()
    with av.open(io.BytesIO(data), mode="r", format="mp4") as container:
        for frame in container.decode(container.streams.video[0]):
            if len(out) >= want:
                break
            out.append(reformatter.reformat(frame, frame.width, frame.height, "rgb24", threads=1).to_ndarray())
    if len(out) != want:
        raise ValueError(f"decoded {len(out)} frames, the sample's metadata says {frames}")
    return np.stack(out)


def encode_sample(key: str, meta: dict[str, Any], video: np.ndarray | None, audio: np.ndarray | None,
                  geometry: ShardGeometry) -> dict[str, Any]:
    """One webdataset sample (``__key__`` plus one entry per file extension)."""
    sample: dict[str, Any] = {"__key__": key, "json": json.dumps(meta).encode()}
    if video is not None:
        if geometry.encoding == "raw":
            sample["video.npy"] = _npy(video)
        else:
            sample["mp4"] = encode_h264(video, geometry.fps, geometry.crf)
    if audio is not None:
        if geometry.encoding == "raw":
            sample["audio.npy"] = _npy(audio.astype(np.float32))
        else:
            buf = io.BytesIO()
            sf.write(buf, np.clip(audio, -1.0, 1.0), geometry.sample_rate, format="FLAC", subtype="PCM_16")
            sample["flac"] = buf.getvalue()
    return sample


def sample_meta(sample: dict[str, Any]) -> dict[str, Any]:
    return json.loads(sample["json"])


def decode_sample(sample: dict[str, Any], modalities: tuple[str, ...], meta: dict[str, Any],
                  video_stop: int | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(video uint8 (T, H, W, 3) or None, audio float32 (samples,) or None)`` of the requested modalities; H.264
    video only up to frame ``video_stop`` (raw frames are all loaded: slicing them costs nothing)."""
    video = audio = None
    if "video" in modalities:
        if "video.npy" in sample:
            video = np.load(io.BytesIO(sample["video.npy"]), allow_pickle=False)
        else:
            video = decode_h264(sample["mp4"], int(meta["frames"]), video_stop)
    if "audio" in modalities:
        if "audio.npy" in sample:
            audio = np.load(io.BytesIO(sample["audio.npy"]), allow_pickle=False)
        else:
            audio = sf.read(io.BytesIO(sample["flac"]), dtype="float32")[0]
    return video, audio
