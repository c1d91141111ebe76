"""CrisisMMD v2.0 and MM-IMDB adapters on tiny trees in the releases' layouts; multi-label scores."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xmodal.data.datasets import REGISTRY, load
from xmodal.data.datasets.crisismmd import COLUMNS, load_crisismmd
from xmodal.data.datasets.mmimdb import AREVALO_GENRES, load_mmimdb
from xmodal.eval.metrics import multilabel_scores

Write = Callable[[Path, str], Path]
ROWS = {  # split file → (event, tweet id, image k, text, label); the agreed-label files hold five label strings
    "train": [("hurricane_harvey", "901646074527535105", 0, "Flooded road near Houston #Harvey",
               "infrastructure_and_utility_damage"),
              ("hurricane_harvey", "901646074527535105", 1, "Flooded road near Houston #Harvey",
               "infrastructure_and_utility_damage"),
              ("mexico_earthquake", "910573165327470593", 0, "Volunteers carry water", "not_humanitarian")],
    "dev": [("srilanka_floods", "867436545264857088", 0, "Rescue teams reached the village",
             "rescue_volunteering_or_donation_effort")],
    "test": [("iraq_iran_earthquake", "930106446453002240", 0, "Two dead in Kermanshah", "affected_individuals")],
}
ALL_ROWS = {  # the "all" files keep the three labels the agreed-label split merged away
    "train": [("hurricane_irma", "906000000000000001", 0, "Cars under water", "vehicle_damage"),
              ("hurricane_irma", "906000000000000002", 0, "Family missing since Sunday", "missing_or_found_people"),
              ("hurricane_irma", "906000000000000003", 0, "Shelter opens downtown", "other_relevant_information")],
    "dev": [("mexico_earthquake", "910573165327470594", 0, "Two injured", "injured_or_dead_people")],
    "test": [("mexico_earthquake", "910573165327470595", 0, "Road cracked", "infrastructure_and_utility_damage")],
}


def _crisismmd(root: Path, write: Write, label_set: str = "agreed") -> Path:
    folder, pattern = (("crisismmd_datasplit_agreed_label", "task_humanitarian_text_img_agreed_lab_{}.tsv")
                       if label_set == "agreed" else ("crisismmd_datasplit_all", "task_humanitarian_text_img_{}.tsv"))
    for split, rows in (ROWS if label_set == "agreed" else ALL_ROWS).items():
        lines = ["\t".join(COLUMNS)]
        for event, tweet, k, text, label in rows:
            image = f"data_image/{event}/27_8_2017/{tweet}_{k}.jpg"
            lines.append("\t".join([event, tweet, f"{tweet}_{k}", text, image, label, label, label, "Positive"]))
            (root / image).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 6), (200, 10, 10)).save(root / image)
        write(root / folder / pattern.format(split), "\n".join(lines) + "\n")
    return root


def test_crisismmd_reads_the_agreed_split_with_its_five_classes(tmp_path: Path, write: Write) -> None:
    root = _crisismmd(tmp_path / "CrisisMMD_v2.0", write)
    index = load_crisismmd(tmp_path, check_files=True)  # the folder holding CrisisMMD_v2.0 works too
    assert index.classes == ["infrastructure_and_utility_damage", "rescue_volunteering_or_donation_effort",
                             "affected_individuals", "other_relevant_information", "not_relevant_or_cant_judge"]
    assert [r.split for r in index.rows] == ["train", "train", "train", "val", "test"]
    first = index.rows[0]
    assert first.id == "901646074527535105_0" and first.text.startswith("Flooded road")
    assert first.labels == [0] and Path(first.path).is_file()
    assert [r.labels[0] for r in index.rows] == [0, 0, 4, 1, 2] and index.meta["missing_files"] == 0
    assert index.meta["official_sizes"] == {"train": 6126, "val": 998, "test": 955, "total": 8079}
    assert index.meta["absent_classes"] == ["other_relevant_information"]  # this tiny tree has no such row
    eight = load_crisismmd(root, label_map="c2kd")  # C²KD App. A's list: three classes the agreed files never hold
    assert len(eight.classes) == 8 and eight.classes[-1] == "not_relevant_or_cant_judge"
    assert {"vehicle_damage", "injured_or_dead_people", "missing_or_found_people"} <= set(eight.meta["absent_classes"])
    assert any("classes without a sample" in note for note in eight.meta["notes"])
    merged = load_crisismmd(root, label_map="merged")
    assert len(merged.classes) == 6 and merged.rows[-1].labels == [merged.classes.index("affected_individuals")]
    assert "crisismmd" in REGISTRY and len(load("crisismmd", root).rows) == 5


def test_crisismmd_label_maps_on_the_all_files(tmp_path: Path, write: Write) -> None:
    """Each of the release's eight label strings lands where its map says: the agreed-label merge (Ofli et al.
    2020) gives five classes, C²KD's list eight, the CVPR 2020 re-implementation's merge six."""
    root = _crisismmd(tmp_path, write, label_set="all")
    five = load_crisismmd(root, label_set="all")
    assert [five.classes[r.labels[0]] for r in five.rows] == [
        "infrastructure_and_utility_damage", "affected_individuals", "other_relevant_information",
        "affected_individuals", "infrastructure_and_utility_damage"]
    eight = load_crisismmd(root, label_set="all", label_map="c2kd")
    assert [eight.classes[r.labels[0]] for r in eight.rows] == [
        "vehicle_damage", "missing_or_found_people", "other_relevant_information", "injured_or_dead_people",
        "infrastructure_and_utility_damage"]
    six = load_crisismmd(root, label_set="all", label_map="merged")
    assert [six.classes[r.labels[0]] for r in six.rows] == [
        "vehicle_damage", "affected_individuals", "other_relevant_information", "affected_individuals",
        "infrastructure_and_utility_damage"]
    assert five.meta["official_sizes"] == {} and five.meta["label_set"] == "all"
    with pytest.raises(ValueError, match="label_map must be one of"):
        load_crisismmd(root, label_set="all", label_map="eight")  # type: ignore[arg-type]


def test_crisismmd_bad_rows_name_file_and_line(tmp_path: Path, write: Write) -> None:
    root = _crisismmd(tmp_path, write)
    tsv = root / "crisismmd_datasplit_agreed_label" / "task_humanitarian_text_img_agreed_lab_dev.tsv"
    text = tsv.read_text().replace("rescue_volunteering_or_donation_effort\t", "looting\t", 1)
    tsv.write_text(text)
    with pytest.raises(ValueError, match=r"agreed_lab_dev\.tsv:2: unknown humanitarian label 'looting'"):
        load_crisismmd(root)
    (root / "crisismmd_datasplit_agreed_label" / "task_humanitarian_text_img_agreed_lab_test.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="test split not found"):
        load_crisismmd(root, "test")


def _mmimdb(root: Path, write: Write) -> Path:
    movies = {"0000008": (["Drama", "Comedy"], ["short plot", "a much longer plot about a family"]),
              "0000012": (["Horror"], ["a haunted house"]), "0000020": (["News"], ["the evening news"]),
              "0000031": (["Comedy", "Romance"], ["two people meet"]), "0000044": (["Drama"], ["a war story"])}
    for movie, (genres, plots) in movies.items():
        write(root / "dataset" / f"{movie}.json", json.dumps({"title": movie, "genres": genres, "plot": plots}))
        Image.new("RGB", (6, 9), (10, 10, 200)).save(root / "dataset" / f"{movie}.jpeg")
    write(root / "split.json", json.dumps({"train": ["0000008", "0000012", "0000020"], "dev": ["0000031"],
                                            "test": ["0000044"]}))
    return root


def test_mmimdb_reads_posters_plots_and_multilabel_genres(tmp_path: Path, write: Write) -> None:
    _mmimdb(tmp_path / "mmimdb", write)
    index = load_mmimdb(tmp_path, check_files=True)
    assert index.multilabel and index.classes == list(AREVALO_GENRES)
    assert [r.id for r in index.rows] == ["0000008", "0000012", "0000031", "0000044"]  # News-only movie skipped
    first = index.rows[0]
    assert first.text == "a much longer plot about a family" and first.path.endswith("0000008.jpeg")
    assert first.labels == sorted([AREVALO_GENRES.index("Drama"), AREVALO_GENRES.index("Comedy")])
    assert index.meta["no_label"] == ["0000020"] and index.meta["missing_files"] == 0
    two = load_mmimdb(tmp_path / "mmimdb", genres=["drama", "comedy"])  # MFH App. B.3
    assert two.classes == ["drama", "comedy"] and two.rows[0].labels == [0, 1]
    assert load_mmimdb(tmp_path, genres="all").classes == ["Comedy", "Drama", "Horror", "News"]


def test_mmimdb_bad_record_names_the_file(tmp_path: Path, write: Write) -> None:
    root = _mmimdb(tmp_path, write)
    write(root / "dataset" / "0000012.json", "{not json")
    with pytest.raises(ValueError, match=r"0000012\.json: not a readable MM-IMDB record"):
        load_mmimdb(root)


def test_multilabel_scores_match_sklearn() -> None:
    from sklearn.metrics import average_precision_score, f1_score

    rng = np.random.default_rng(0)
    targets = (rng.uniform(size=(40, 5)) < 0.3).astype(int)
    probs = np.clip(targets * 0.4 + rng.uniform(size=(40, 5)) * 0.6, 0, 1)
    out = multilabel_scores(probs, targets)
    assert out["f1_micro"] == pytest.approx(f1_score(targets, probs >= 0.5, average="micro"))
    assert out["f1_macro"] == pytest.approx(f1_score(targets, probs >= 0.5, average="macro"))
    assert out["map"] == pytest.approx(average_precision_score(targets, probs, average="macro"))


def test_data_check_decodes_the_images_of_image_text_sets(tmp_path: Path, write: Write,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from xmodal.cli.main import main

    root = _mmimdb(tmp_path, write)
    assert main(["data", "check", "mmimdb", "--root", str(root), "--workers", "0"]) == 0
    (root / "dataset" / "0000044.jpeg").write_bytes(b"\xff\xd8 truncated")
    assert main(["data", "check", "mmimdb", "--root", str(root), "--workers", "0"]) == 1
    assert "3/4 items OK; 1 bad — corrupt: 1" in capsys.readouterr().out
