"""MM-IMDB (Arevalo et al., "Gated Multimodal Units for Information Fusion", ICLR 2017 workshop, arXiv:1702.01992):
movie posters, plots and genres; multi-label genre prediction (MFH App. B.3).

Layout read here (ROOT is the ``mmimdb`` folder of the release, or the folder that holds it)::

    ROOT/split.json             {"train": [ids], "dev": [ids], "test": [ids]}   (ids as strings, e.g. "0000008")
    ROOT/dataset/<id>.json      the movie's IMDb record: "plot" (a list of plot texts), "genres" (a list), …
    ROOT/dataset/<id>.jpeg      its poster

The text is the longest plot (the record holds several; MMF's conversion script keeps the longest). Labels
(``genres``): ``"arevalo23"`` (default) are the 23 genres of Arevalo et al. (those with enough movies), in their
order; ``"all"`` every genre found in the training records (sorted); or a list of names (MFH App. B.3 uses
drama and comedy). Genres outside the set are dropped from a movie; a movie left with none is skipped and
counted (``no_label``). ``dev`` is our ``val``. The index is multi-label; scores are micro/macro F1 and mAP
(:func:`xmodal.eval.metrics.multilabel_scores`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import annotation_error, as_root, check_fold, check_split, require_file, require_root
from xmodal.data.datasets._report import Report, build_index

AREVALO_GENRES: tuple[str, ...] = (
    "Drama", "Comedy", "Romance", "Thriller", "Crime", "Action", "Adventure", "Horror", "Documentary", "Mystery",
    "Sci-Fi", "Fantasy", "Family", "Biography", "War", "History", "Music", "Animation", "Musical", "Western",
    "Sport", "Short", "Film-Noir",
)
OFFICIAL_SIZES = {"train": 15552, "val": 2608, "test": 7799}  # MFH App. B.3 / Arevalo et al.
_SPLIT_KEY = {"train": "train", "val": "dev", "test": "test"}


def _record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable MM-IMDB record ({err})") from err
    if not isinstance(record, dict) or not isinstance(record.get("genres"), list):
        raise ValueError(f"{path}: an MM-IMDB record needs a 'genres' list")
    return record


def _plot(record: dict) -> str:
    plots = record.get("plot") or []
    plots = [plots] if isinstance(plots, str) else [p for p in plots if isinstance(p, str)]
    return max(plots, key=len) if plots else ""


def load_mmimdb(root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False,
                genres: str | Sequence[str] = "arevalo23") -> DatasetIndex:
    """Posters and plots with the release's train/dev/test split; multi-label genres."""
    check_fold("mmimdb", fold, 1)
    base = require_root(as_root(root), "MM-IMDB", "mmimdb/{split.json,dataset/<id>.json,dataset/<id>.jpeg}")
    base = base / "mmimdb" if (base / "mmimdb" / "split.json").is_file() else base
    split_path = require_file(base / "split.json", "MM-IMDB split.json")
    try:
        partition = json.loads(split_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise annotation_error(split_path, err.lineno, f"not valid JSON ({err.msg})") from err
    missing = [k for k in _SPLIT_KEY.values() if not isinstance(partition.get(k), list)]
    if missing:
        raise annotation_error(split_path, 1, f"needs id lists under {missing}")
    splits = check_split("mmimdb", split, ("train", "val", "test"))
    records = {s: [(str(i), _record(require_file(base / "dataset" / f"{i}.json", "MM-IMDB record")))
                   for i in partition[_SPLIT_KEY[s]]] for s in splits}
    if genres == "arevalo23":
        classes = list(AREVALO_GENRES)
    elif genres == "all":
        train = records.get("train") or [(str(i), _record(base / "dataset" / f"{i}.json")) for i in partition["train"]]
        classes = sorted({g for _, r in train for g in r["genres"]})
    else:
        classes = [str(g) for g in genres]
    lookup = {g.lower(): k for k, g in enumerate(classes)}
    report = Report(layout="MM-IMDB release (split.json, dataset/<id>.json + <id>.jpeg)")
    rows: list[ManifestRow] = []
    unlabelled: list[str] = []
    for s in splits:
        for movie, record in records[s]:
            labels = sorted({lookup[g.lower()] for g in record["genres"] if g.lower() in lookup})
            if not labels:
                unlabelled.append(movie)
                continue
            rows.append(ManifestRow(path=str(base / "dataset" / f"{movie}.jpeg"), labels=labels, split=s, id=movie,
                                    text=_plot(record)))
    if unlabelled:
        report.note(f"skipped {len(unlabelled)} movies with no genre in the class set (e.g. {unlabelled[:3]})")
    official = OFFICIAL_SIZES if genres == "arevalo23" else {}
    meta = {"modalities": ["image", "text"], "genres": genres if isinstance(genres, str) else list(genres),
            "no_label": unlabelled}
    return build_index("mmimdb", rows, classes, base, check_files=check_files, multilabel=True, report=report,
                       official={k: v for k, v in official.items() if k in splits}, meta=meta)
