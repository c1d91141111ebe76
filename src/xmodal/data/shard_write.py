"""Write a dataset as streaming shards (``xmodal data shard``): decode every row once, store it, index it.

Why decode once: a Kinetics clip decoded from its original 340p–1080p file for every epoch costs about 100 frames
of full-size video per sample; stored at the training geometry (short side 128, 8 fps, H.264 4:4:4, 16 kHz FLAC)
it costs a few dozen small frames. Rows are decoded in worker processes (``workers``), each returning encoded bytes;
the parent writes them in row order into tars of ``samples_per_shard`` samples (webdataset's ``TarWriter``), so
shards are the same for any number of workers. A row that cannot be decoded is skipped and reported (path, kind,
message) like ``xmodal data check``, never silently dropped; the report goes into ``index.json`` as well.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xmodal.data.check import CheckProblem
from xmodal.data.dataset import DatasetIndex, row_path
from xmodal.data.errors import MediaError
from xmodal.data.io import AudioSpec, VideoSpec, decode_clip
from xmodal.data.shard_format import INDEX_NAME, ShardGeometry, ShardIndex, encode_sample, rows_hash

_Job = tuple[str, int, str, float | None, float | None, list[int], str, ShardGeometry]


@dataclass
class ShardReport:
    """What was written: samples and shards per split, the bad rows (``CheckProblem``, index within the split)."""

    out: str
    samples: dict[str, int] = field(default_factory=dict)
    shards: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, CheckProblem]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.samples.values()) + len(self.problems)


def _encode_row(job: _Job) -> tuple[int, dict[str, Any] | None, CheckProblem | None]:
    """Decode row ``i``'s whole segment at the shard geometry and encode it; or the problem that prevented it."""
    split, i, path, start, end, labels, row_id, g = job
    try:
        clip = decode_clip(path, start, end, short="loop",
                           video=VideoSpec(fps=g.fps, size=g.size) if "video" in g.modalities else None,
                           audio=AudioSpec(g.sample_rate) if "audio" in g.modalities else None)
        video = clip.video.numpy() if clip.video is not None else None
        audio = clip.audio.numpy() if clip.audio is not None else None
        meta = {"index": i, "id": row_id, "labels": labels, "split": split, "path": path, "start": clip.start,
                "end": clip.end, "fps": clip.fps, "sample_rate": clip.sample_rate,
                "frames": 0 if video is None else len(video), "samples": 0 if audio is None else len(audio)}
        return i, encode_sample(f"{i:09d}", meta, video, audio, g), None
    except MediaError as err:
        return i, None, CheckProblem(i, err.path, err.kind, str(err))
    except Exception as err:  # a writer reports what it cannot read rather than stopping halfway
        return i, None, CheckProblem(i, path, "unreadable", f"{path}: {type(err).__name__}: {err}")


def _results(jobs: list[_Job], workers: int) -> Iterator[tuple[int, dict[str, Any] | None, CheckProblem | None]]:
    if workers <= 0:
        yield from map(_encode_row, jobs)
        return
    with mp.get_context().Pool(workers) as pool:  # ordered: shard contents do not depend on the worker count
        yield from pool.imap(_encode_row, jobs, chunksize=1)


def write_shards(
    index: DatasetIndex,
    out: str | Path,
    *,
    geometry: ShardGeometry | None = None,
    samples_per_shard: int = 1000,
    splits: Sequence[str] | None = None,
    workers: int = 0,
    source: str = "",
    on_progress: Callable[[int], None] | None = None,
) -> ShardReport:
    """Shard every row of ``splits`` (default: all) into ``out/<split>-NNNNNN.tar`` and write ``out/index.json``.

    ``on_progress(n)`` is called after each row (the CLI drives a progress bar with it)."""
    from webdataset import TarWriter

    g = geometry or ShardGeometry()
    g.validate()
    if samples_per_shard < 1:
        raise ValueError("samples_per_shard must be >= 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = list(splits) if splits else sorted({r.split for r in index.rows})
    shard_index = ShardIndex(index.name, list(index.classes), index.multilabel, g, source=source,
                             source_hash=rows_hash(index.rows, list(index.classes)))
    report = ShardReport(str(out))
    t0 = time.perf_counter()
    for split in wanted:
        part = index.split(split)
        jobs: list[_Job] = [(split, i, row_path(part, r), r.start, r.end, list(r.labels), r.id or r.path, g)
                            for i, r in enumerate(part.rows)]
        shards: list[dict[str, Any]] = []
        writer: Any = None
        try:
            for _, sample, problem in _results(jobs, workers):
                if problem is not None:
                    report.problems.append((split, problem))
                elif sample is not None:
                    if writer is None or shards[-1]["samples"] >= samples_per_shard:
                        if writer is not None:
                            writer.close()
                        shards.append({"url": f"{split}-{len(shards):06d}.tar", "samples": 0})
                        writer = TarWriter(str(out / shards[-1]["url"]), encoder=False)
                    writer.write(sample)
                    shards[-1]["samples"] += 1
                if on_progress is not None:
                    on_progress(1)
        finally:
            if writer is not None:
                writer.close()
        shard_index.splits[split] = {"rows": len(jobs), "samples": sum(s["samples"] for s in shards),
                                     "shards": shards}
        report.samples[split], report.shards[split] = shard_index.splits[split]["samples"], len(shards)
    shard_index.skipped = [{"split": s, **asdict(p)} for s, p in report.problems]
    (out / INDEX_NAME).write_text(shard_index.to_json())
    report.seconds = time.perf_counter() - t0
    return report
