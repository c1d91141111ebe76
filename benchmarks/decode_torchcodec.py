"""torchcodec against PyAV on the same windows: clips/s per decoder, and how far its frames and audio are from
PyAV's (the reference) — ``xmodal.data.io_torchcodec``. The bound is PyAV decode measured in the same run.

    python benchmarks/decode_torchcodec.py --data DIR_WITH_MANIFEST --clips 64 --json decode_torchcodec.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.cli._common import write_json


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True, help="folder with manifest.csv (e.g. xmodal data synth --out DIR)")
    p.add_argument("--clips", type=int, default=64)
    p.add_argument("--fps", type=float, default=8.0)
    p.add_argument("--size", type=int, default=128, help="short side")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--decoders", nargs="+", default=["pyav", "torchcodec", "torchcodec-cuda"])
    p.add_argument("--json")
    args = p.parse_args()

    import torch

    from xmodal.data.dataset import read_manifest, row_path
    from xmodal.data.io import AudioSpec, VideoSpec
    from xmodal.data.io_torchcodec import clip_decoder

    index = read_manifest(Path(args.data) / "manifest.csv")
    paths = [row_path(index, row) for row in index.rows[: args.clips]]
    video, audio = VideoSpec(fps=args.fps, size=args.size), AudioSpec(16000)
    report: dict[str, Any] = {"benchmark": "decode_torchcodec", "clips": len(paths), "fps": args.fps,
                              "short_side": args.size, "seconds": args.seconds, "torch": torch.__version__,
                              "cpus": os.cpu_count(), "decoders": {}}
    reference: list[Any] = []
    for name in args.decoders:
        try:
            decode = clip_decoder(name)  # type: ignore[arg-type]
        except (RuntimeError, ValueError) as err:
            report["decoders"][name] = {"error": str(err)}
            continue
        decode(paths[0], 0.0, args.seconds, video=video, audio=audio)  # warm-up (CUDA context, libraries)
        start = time.perf_counter()
        clips = [decode(path, 0.0, args.seconds, video=video, audio=audio) for path in paths]
        seconds = time.perf_counter() - start
        entry: dict[str, Any] = {"clips_per_s": len(paths) / seconds, "seconds": seconds}
        if name == "pyav":
            reference = clips
        elif reference:
            pairs = list(zip(clips, reference, strict=True))
            pix = [float((c.video.float() - r.video.float()).abs().mean()) for c, r in pairs]
            corr = [float(np.corrcoef(c.audio.numpy(), r.audio.numpy())[0, 1]) for c, r in pairs]
            entry |= {"mean_abs_pixel_diff_vs_pyav": float(np.mean(pix)), "max_clip_pixel_diff": float(max(pix)),
                      "min_audio_corr_vs_pyav": float(min(corr))}
            entry["speed_vs_pyav"] = entry["clips_per_s"] / report["decoders"]["pyav"]["clips_per_s"]
        report["decoders"][name] = entry
        print(name, json.dumps(entry))
    write_json(args.json, report)


if __name__ == "__main__":
    main()
