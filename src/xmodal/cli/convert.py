"""``xmodal convert xkd-official IN OUT``: a released XKD backbone (pritamqu/XKD ``*.pth.tar``) → an xmodal export
that ``xmodal eval --backbone OUT.safetensors`` and ``xmodal.models.load_backbone`` read."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "convert",
        help="convert released XKD weights into an xmodal backbone export",
        description="Reads an official XKD backbone state dict (torch.load with weights_only=True) and writes "
        "OUT.safetensors + OUT.json with the official evaluation geometry (32×112² at 8 fps; 80×448 log-mel with "
        "the official front-end and statistics).",
    )
    parser.add_argument("source", choices=["xkd-official"], help="format of the input file")
    parser.add_argument("input", help="released backbone, e.g. vid_teacher.pth.tar")
    parser.add_argument("output", help="output prefix (OUT.safetensors and OUT.json are written)")
    parser.add_argument("--modality", choices=["video", "audio"], default=None,
                        help="needed only for files with the evaluation code's key names")
    parser.add_argument("--patch", type=int, nargs="+", default=None, help="patch size (default: the paper's)")
    parser.add_argument("--grid", type=int, nargs="+", default=None, help="token grid (default: the paper's)")
    parser.add_argument("--heads", type=int, default=None, help="attention heads (default: by width, as official)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xmodal.models.official_xkd import export_official_xkd

    try:
        weights, config = export_official_xkd(args.input, args.output, args.modality, patch=args.patch,
                                              grid=args.grid, heads=args.heads)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"xmodal convert: {err}") from err
    print(f"wrote {weights} and {config}")
    return 0
