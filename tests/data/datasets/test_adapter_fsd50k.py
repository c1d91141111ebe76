"""FSD50K adapter on a tiny tree: FSD50K.ground_truth CSVs, header-less vocabulary, dev/eval audio folders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xmodal.data.datasets import load_fsd50k

VOCAB = "0,Accelerating_and_revving_and_vroom,/m/07q2z82\n1,Accordion,/m/0mkg\n2,Music,/m/04rlf\n"
DEV = (
    "fname,labels,mids,split\n"
    '64760,"Accordion,Music","/m/0mkg,/m/04rlf",train\n'
    "16399,Accelerating_and_revving_and_vroom,/m/07q2z82,val\n"
    '16401,"Music",/m/04rlf,train\n'
)
EVAL = 'fname,labels,mids\n37199,"Music,Accordion","/m/04rlf,/m/0mkg"\n'


@pytest.fixture
def fsd(tmp_path: Path, write) -> Path:
    truth = tmp_path / "FSD50K.ground_truth"
    write(truth / "vocabulary.csv", VOCAB)
    write(truth / "dev.csv", DEV)
    write(truth / "eval.csv", EVAL)
    write(tmp_path / "FSD50K.dev_audio" / "64760.wav")
    write(tmp_path / "FSD50K.eval_audio" / "37199.wav")
    return tmp_path


def test_multilabel_rows_and_splits(fsd: Path) -> None:
    index = load_fsd50k(fsd, check_files=True)
    assert index.multilabel and index.classes == ["Accelerating_and_revving_and_vroom", "Accordion", "Music"]
    assert [(r.id, r.labels, r.split) for r in index.rows] == [
        ("64760", [1, 2], "train"),
        ("16399", [0], "val"),
        ("16401", [2], "train"),
        ("37199", [1, 2], "test"),
    ]
    assert index.rows[0].path == str(fsd / "FSD50K.dev_audio" / "64760.wav")
    assert index.rows[3].path == str(fsd / "FSD50K.eval_audio" / "37199.wav")
    assert index.meta["missing_files"] == 2
    assert [r.id for r in load_fsd50k(fsd, "val").rows] == ["16399"]
    assert [r.split for r in load_fsd50k(fsd, "test").rows] == ["test"]


def test_malformed_lines(fsd: Path, write) -> None:
    dev = write(fsd / "FSD50K.ground_truth" / "dev.csv", DEV + '1,"Accordion","/m/0mkg",test\n')
    with pytest.raises(ValueError, match=rf"{re.escape(str(dev))}:5: split must be train or val"):
        load_fsd50k(fsd, "train")
    write(dev, DEV + '2,"Music","/m/0mkg",train\n')
    with pytest.raises(ValueError, match=rf"{re.escape(str(dev))}:5: labels 'Music' do not match"):
        load_fsd50k(fsd, "train")
    ev = write(fsd / "FSD50K.ground_truth" / "eval.csv", EVAL + "3,Cat,/m/01yrx\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(ev))}:3: MID\(s\) \['/m/01yrx'\]"):
        load_fsd50k(fsd, "test")
    vocab = write(fsd / "FSD50K.ground_truth" / "vocabulary.csv", "idx,label,mid\n" + VOCAB)
    with pytest.raises(ValueError, match=rf"{re.escape(str(vocab))}:1: expected 'idx,label,mid'"):
        load_fsd50k(fsd)
