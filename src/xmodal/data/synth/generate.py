"""Generate the benchmark: MP4 clips, ``manifest.csv``, ``manifest.json`` and ``factors.csv``.

Labels are balanced (``index mod C`` under a seeded permutation), splits are stratified per class, and every
clip is rendered from its own ``(seed, index)`` random stream, so the output is identical for any worker count.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing as mp
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
from rich.progress import Progress

from xmodal.data.synth.config import SHAPES, SYNTH_VERSION, SynthConfig
from xmodal.data.synth.plan import plan_clip
from xmodal.data.synth.render_audio import general_pitch_hz, offscreen_pitch_hz, render_audio
from xmodal.data.synth.render_video import render_video
from xmodal.data.synth.writer import write_mp4

SPLIT_NAMES = ("train", "val", "test")
CLIP_DIR = "clips"
LABEL_RULE = "label = (general * video_levels + video_specific) * audio_levels + audio_specific"


def clip_id(index: int) -> str:
    return f"synth_{index:06d}"


def assign_labels(cfg: SynthConfig) -> np.ndarray:
    """Balanced labels: ``arange(clips) % C`` shuffled by the seed."""
    rng = np.random.default_rng([cfg.seed, 0x1AB])
    return rng.permutation(np.arange(cfg.clips) % cfg.num_classes)


def assign_splits(cfg: SynthConfig, labels: np.ndarray) -> list[str]:
    """Stratified split: within each class, a seeded shuffle; the first ``round(f_train · n)`` clips are train,
    the next ``round(f_val · n)`` val, the rest test."""
    rng = np.random.default_rng([cfg.seed, 0x5B1])
    splits = [""] * len(labels)
    for c in range(cfg.num_classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_train = round(cfg.splits[0] * len(members))
        n_val = round(cfg.splits[1] * len(members))
        for rank, index in enumerate(members):
            splits[int(index)] = SPLIT_NAMES[0] if rank < n_train else SPLIT_NAMES[1] if rank < n_train + n_val \
                else SPLIT_NAMES[2]
    return splits


def render_clip(cfg: SynthConfig, index: int, label: int, path: Path) -> dict[str, Any]:
    """Render and write one clip; return its factor record (runs in a worker)."""
    plan = plan_clip(cfg, index, label)
    write_mp4(path, render_video(cfg, plan), render_audio(cfg, plan), fps=cfg.fps, sample_rate=cfg.sample_rate,
              crf=cfg.crf, preset=cfg.preset, audio_bitrate=cfg.audio_bitrate)
    return plan.factor_record()


def _render_job(job: tuple[SynthConfig, int, int, str]) -> dict[str, Any]:
    cfg, index, label, path = job
    return render_clip(cfg, index, label, Path(path))


def _run_jobs(jobs: list[tuple[SynthConfig, int, int, str]], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        yield from map(_render_job, jobs)
        return
    # fork where the OS has it: workers run numpy and PyAV only (no torch/OpenMP state is touched after the
    # fork), and unlike spawn it works from scripts without an ``if __name__ == "__main__"`` guard.
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers) as pool:
        yield from pool.imap(_render_job, jobs, chunksize=max(1, min(16, len(jobs) // (4 * workers))))


def csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _general_factor(cfg: SynthConfig) -> dict[str, Any]:
    """How the modality-general factor is seen and heard (the 1.0 wording for the default cues)."""
    levels = range(cfg.general_levels)
    seen = ("stripe orientation (degrees)" if cfg.video_cue == "orientation"
            else "stripe angle relative to the long axis of a bar at a random angle (degrees)")
    out: dict[str, Any] = {"levels": cfg.general_levels, "seen_as": seen,
                           "values": [round(180 * g / cfg.general_levels, 3) for g in levels]}
    if cfg.audio_cue == "pitch":
        out.update({"heard_as": "object tone pitch (Hz)",
                    "pitch_hz": [round(general_pitch_hz(cfg, g), 3) for g in levels]})
    else:
        out.update({"heard_as": "distance in mel bands between the object's two tones; the pair is transposed by "
                                f"a random 0..{cfg.transpose_bands:g} bands per clip",
                    "interval_bands": [cfg.interval_min + cfg.pitch_bin_step * g for g in levels]})
    return out


def build_meta(cfg: SynthConfig, splits: list[str]) -> dict[str, Any]:
    """Everything needed to interpret (and regenerate) the benchmark; γ as defined in config.py / docs."""
    return {
        "generator": "xmodal.data.synth", "version": SYNTH_VERSION, "seed": cfg.seed, "knobs": cfg.to_dict(),
        **cfg.shares(), "num_classes": cfg.num_classes,
        "factors": {
            "general": _general_factor(cfg),
            "video_specific": {"levels": cfg.video_levels, "seen_as": "object silhouette",
                               "values": list(SHAPES[: cfg.video_levels])},
            "audio_specific": {"levels": cfg.audio_levels, "heard_as": "off-screen tone pitch (Hz)",
                               "pitch_hz": [round(offscreen_pitch_hz(cfg, a), 3) for a in range(cfg.audio_levels)]
                               if cfg.audio_levels > 1 else []},
        },
        "label_rule": LABEL_RULE, "factors_file": "factors.csv",
        "split_counts": {name: splits.count(name) for name in SPLIT_NAMES},
        "encoder": {"video": "libx264", "audio": "aac", "pyav": av.__version__},
    }


def generate(cfg: SynthConfig, out_dir: str | Path, workers: int = 2, *, progress: bool = False) -> Path:
    """Write ``cfg.clips`` clips under ``out_dir`` and return the path of ``manifest.csv``.

    An existing ``out_dir/clips`` is replaced so a re-run never mixes two benchmarks."""
    out = Path(out_dir)
    clip_dir = out / CLIP_DIR
    if clip_dir.exists():
        shutil.rmtree(clip_dir)
    clip_dir.mkdir(parents=True)
    labels = assign_labels(cfg)
    splits = assign_splits(cfg, labels)
    jobs = [(cfg, i, int(labels[i]), str(clip_dir / f"{clip_id(i)}.mp4")) for i in range(cfg.clips)]
    records = _collect(_run_jobs(jobs, workers), len(jobs), progress)
    names = cfg.class_names()
    manifest = [{"path": f"{CLIP_DIR}/{clip_id(i)}.mp4", "label": names[int(labels[i])], "split": splits[i],
                 "start": "0.0", "end": str(float(cfg.duration)), "id": clip_id(i)} for i in range(cfg.clips)]
    factors = [{"id": clip_id(r["index"]), "split": splits[r["index"]], **r} for r in records]
    (out / "factors.csv").write_text(csv_text(factors))
    (out / "manifest.csv").write_text(csv_text(manifest))
    sidecar = {"classes": names, "meta": build_meta(cfg, splits)}
    (out / "manifest.json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return out / "manifest.csv"


def _collect(results: Iterator[dict[str, Any]], total: int, progress: bool) -> list[dict[str, Any]]:
    if not progress:
        return list(results)
    records = []
    with Progress(transient=True) as bar:
        task = bar.add_task("rendering clips", total=total)
        for record in results:
            records.append(record)
            bar.advance(task)
    return records
