"""``xmodal reconstruct CHECKPOINT --data MANIFEST --out PNG``: MAViL's masked reconstructions of both modalities
of one clip as a picture (MAViL App. A, Fig. 3; :mod:`xmodal.analysis.mavil_reconstruction`).

Works for checkpoints whose decoders predict raw patches (stage 1, the EMA variant, stage 2 with
``loss.target=raw``); a stage-2 MAViL-Fusion/-Uni model predicts its teacher's features and is refused with a
line naming that teacher. XKD's picture is drawn by ``xmodal demo``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("reconstruct", help="draw a MAViL checkpoint's masked audio and video reconstructions "
                            "of one clip (PNG)", description=__doc__)
    parser.add_argument("checkpoint", help="<run>/checkpoints/last.ckpt of an xmodal pretrain run with method: mavil")
    parser.add_argument("--data", required=True, metavar="MANIFEST", help="manifest CSV holding the clip")
    parser.add_argument("--out", required=True, metavar="PNG", help="picture to write")
    parser.add_argument("--split", default="test", help="split of the clip (default: test)")
    parser.add_argument("--index", type=int, default=0, help="clip number within the split (default: 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random masks (default: 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xmodal.analysis.mavil_reconstruction import reconstruction_from_checkpoint

    path = reconstruction_from_checkpoint(args.checkpoint, args.data, args.out, args.split, args.index, args.seed)
    print(f"wrote {path}")
    return 0
