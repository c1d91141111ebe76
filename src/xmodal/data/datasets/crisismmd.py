"""CrisisMMD v2.0 (Alam, Ofli and Imran, "CrisisMMD: Multimodal Twitter Datasets from Natural Disasters", ICWSM
2018, arXiv:1805.00713): tweets with their images; the humanitarian task of C²KD App. A (8,079 image–text pairs).

Layout read here (ROOT is the ``CrisisMMD_v2.0`` folder of the release, or the folder that holds it)::

    ROOT/crisismmd_datasplit_agreed_label/task_humanitarian_text_img_agreed_lab_{train,dev,test}.tsv
    ROOT/crisismmd_datasplit_all/task_humanitarian_text_img_{train,dev,test}.tsv      (``label_set="all"``)
    ROOT/data_image/<event>/<date>/<tweet id>_<k>.jpg

Each TSV has a header and the tab-separated columns ``event_name tweet_id image_id tweet_text image label
label_text label_image label_text_image``; ``image`` is the image's path relative to ROOT and ``label`` the pair's
humanitarian label (in the agreed-label split the text and image annotators agreed on it). A tweet with several
images gives several rows (ids are the ``image_id``, one per image). ``dev`` is our ``val``.

Classes (``label_map``). The release's humanitarian annotation has eight categories, and C²KD App. A lists all
eight, but the agreed-label files — the 8,079 pairs App. A counts (6,126 train / 998 dev / 955 test) — hold only
five label strings: the split's authors (Ofli, Alam and Imran, "Analysis of Social Media Data using Multimodal
Deep Learning for Disaster Response", ISCRAM 2020, arXiv:2004.11838) merged vehicle damage into infrastructure and
utility damage, and injured or dead people and missing or found people into affected individuals.

* ``"agreed"`` (default): those five classes, in App. A's order; the three merged strings (present in the
  ``all`` files) map onto their targets, so both label sets give the same five-class task.
* ``"c2kd"``: App. A's eight categories one to one (``not_humanitarian`` is the release's name for "not relevant
  or can't judge"); on the agreed-label files three of them have no sample (the loader notes which).
* ``"merged"``: six classes, the ``task2_merged`` map of a public re-implementation of Abavisani et al.
  ("Multimodal Categorization of Crisis Events in Social Media", CVPR 2020), which reads the ``all`` files:
  injured/dead and missing/found people into affected individuals, vehicle damage kept.

A label outside the map is an error naming the file and line.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import annotation_error, as_root, check_fold, check_split, require_file, require_root
from xmodal.data.datasets._report import Report, build_index

C2KD_CLASSES: tuple[tuple[str, str], ...] = (  # (class name, release label string), C²KD App. A order
    ("infrastructure_and_utility_damage", "infrastructure_and_utility_damage"),
    ("vehicle_damage", "vehicle_damage"),
    ("rescue_volunteering_or_donation_effort", "rescue_volunteering_or_donation_effort"),
    ("injured_or_dead_people", "injured_or_dead_people"),
    ("affected_individuals", "affected_individuals"),
    ("missing_or_found_people", "missing_or_found_people"),
    ("other_relevant_information", "other_relevant_information"),
    ("not_relevant_or_cant_judge", "not_humanitarian"),
)
MERGED_INTO = {"injured_or_dead_people": "affected_individuals", "missing_or_found_people": "affected_individuals"}
AGREED_INTO = {**MERGED_INTO, "vehicle_damage": "infrastructure_and_utility_damage"}  # Ofli et al. 2020
MERGES: dict[str, dict[str, str]] = {"agreed": AGREED_INTO, "c2kd": {}, "merged": MERGED_INTO}
COLUMNS = ("event_name", "tweet_id", "image_id", "tweet_text", "image", "label", "label_text", "label_image",
           "label_text_image")
_FOLDERS = {"agreed": ("crisismmd_datasplit_agreed_label", "task_humanitarian_text_img_agreed_lab_{}.tsv"),
            "all": ("crisismmd_datasplit_all", "task_humanitarian_text_img_{}.tsv")}
_SPLIT_FILE = {"train": "train", "val": "dev", "test": "test"}
# the agreed-label humanitarian split (Ofli et al. 2020); the total is C²KD App. A's 8,079 aligned images and texts
OFFICIAL_SIZES = {"train": 6126, "val": 998, "test": 955, "total": 8079}


def label_table(label_map: str) -> tuple[list[str], dict[str, int]]:
    """(class names, release label string → class index) of a ``label_map``."""
    if label_map not in MERGES:
        raise ValueError(f"crisismmd: label_map must be one of {sorted(MERGES)}, got {label_map!r}")
    into = MERGES[label_map]
    kept = [c for c, _ in C2KD_CLASSES if c not in into]
    return kept, {raw: kept.index(into.get(c, c)) for c, raw in C2KD_CLASSES}


def _base(root: Path) -> Path:
    for candidate in (root, root / "CrisisMMD_v2.0"):
        if any((candidate / folder).is_dir() for folder, _ in _FOLDERS.values()):
            return candidate
    return root


def load_crisismmd(root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False,
                   label_set: Literal["agreed", "all"] = "agreed",
                   label_map: Literal["agreed", "c2kd", "merged"] = "agreed") -> DatasetIndex:
    """The humanitarian task's image–text pairs with the release's train/dev/test split."""
    check_fold("crisismmd", fold, 1)
    if label_set not in _FOLDERS:
        raise ValueError(f"crisismmd: label_set must be 'agreed' or 'all', got {label_set!r}")
    base = _base(require_root(as_root(root), "CrisisMMD", "CrisisMMD_v2.0/{crisismmd_datasplit_agreed_label,"
                                                           "data_image}"))
    folder, pattern = _FOLDERS[label_set]
    classes, lookup = label_table(label_map)
    report = Report(layout=f"CrisisMMD v2.0 ({folder}/, data_image/<event>/...)")
    rows: list[ManifestRow] = []
    for s in check_split("crisismmd", split, ("train", "val", "test")):
        path = require_file(base / folder / pattern.format(_SPLIT_FILE[s]), f"CrisisMMD humanitarian {s} split")
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, [])
            if [h.strip() for h in header[: len(COLUMNS)]] != list(COLUMNS):
                raise annotation_error(path, 1, f"expected the columns {' '.join(COLUMNS)}, got {header}")
            for lineno, fields in enumerate(reader, start=2):
                if not any(f.strip() for f in fields):
                    continue
                if len(fields) < len(COLUMNS):
                    raise annotation_error(path, lineno, f"expected {len(COLUMNS)} tab-separated fields, got "
                                                         f"{len(fields)}")
                rec = dict(zip(COLUMNS, (f.strip() for f in fields), strict=False))
                if rec["label"] not in lookup:
                    raise annotation_error(path, lineno, f"unknown humanitarian label {rec['label']!r}; known: "
                                                         f"{sorted(lookup)}")
                rows.append(ManifestRow(path=str(base / rec["image"]), labels=[lookup[rec["label"]]], split=s,
                                        id=rec["image_id"], text=rec["tweet_text"]))
    absent = [classes[i] for i in sorted(set(range(len(classes))) - {r.labels[0] for r in rows})]
    if absent:
        report.note(f"classes without a sample: {', '.join(absent)} (label_map={label_map!r}; the agreed-label "
                    "files hold five humanitarian labels, docs/data.md)")
    official = OFFICIAL_SIZES if split is None and label_set == "agreed" else {}
    meta = {"modalities": ["image", "text"], "label_map": label_map, "label_set": label_set, "absent_classes": absent}
    return build_index("crisismmd", rows, classes, base, check_files=check_files, report=report,
                       official=official, meta=meta)
