"""The synthetic image–text MVD benchmark: factors and γ, byte reproducibility, the manifest, the CLI."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from xmodal.cli._synth import add_synth_arguments, run_synth
from xmodal.data.dataset import read_manifest
from xmodal.data.images import decode_image
from xmodal.data.synth.config import SynthConfigError
from xmodal.data.synth.image_text import (
    COLOURS,
    PLACES,
    ImageTextConfig,
    generate_image_text,
    levels_for_gamma,
    render_sample,
)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generation_is_byte_reproducible_and_seeded(tmp_path: Path) -> None:
    cfg = ImageTextConfig(samples=24, general_levels=2, image_levels=2, text_levels=2)
    generate_image_text(cfg, tmp_path / "a")
    generate_image_text(cfg, tmp_path / "b")
    generate_image_text(ImageTextConfig(samples=24, seed=1, general_levels=2, image_levels=2, text_levels=2),
                        tmp_path / "c")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["manifest.csv"] != _digest(tmp_path / "c")["manifest.csv"]


def test_manifest_carries_text_gamma_and_factors(tmp_path: Path) -> None:
    cfg = ImageTextConfig(samples=160, general_levels=4, image_levels=2, text_levels=2)
    index = read_manifest(generate_image_text(cfg, tmp_path))
    meta = json.loads((tmp_path / "manifest.json").read_text())["meta"]
    assert meta["gamma"] == pytest.approx(0.5) and meta["modalities"] == ["image", "text"]
    assert meta["factors"]["general"]["values"] == ["red", "yellow", "green", "blue"]
    assert len(index.classes) == 16 and {r.split for r in index.rows} == {"train", "val", "test"}
    assert all(r.text for r in index.rows) and index.rows[0].path.endswith(".png")
    assert decode_image(Path(index.root) / index.rows[0].path).shape == (32, 32, 3)
    factors = list(csv.DictReader((tmp_path / "factors.csv").open()))
    for row, f in zip(index.rows, factors, strict=True):
        g, i, t = int(f["general"]), int(f["image_specific"]), int(f["text_specific"])
        assert row.labels == [(g * 2 + i) * 2 + t]  # the label rule


def test_factors_reach_the_right_modality() -> None:
    cfg = ImageTextConfig(samples=64, general_levels=4, image_levels=2, text_levels=2, word_dropout=0.0,
                          distractors=0, pixel_noise=0.0)
    for label in range(cfg.num_classes):
        image, text, rec = render_sample(cfg, label, label)
        assert any(w in text.lower() for w in dict((c[0], c[2]) for c in COLOURS)[rec["colour"]])  # colour read
        assert any(p in text.lower() for p in next(p for p in PLACES if p[0] == rec["place"]))  # place read
        assert rec["texture"] not in text.lower()  # texture is never written
        pixels = image.reshape(-1, 3).astype(float)
        saturated = pixels[pixels.max(1) - pixels.min(1) > 80]
        assert len(saturated) > 30  # the coloured object is drawn


def test_non_decisive_factors_still_vary() -> None:
    cfg = ImageTextConfig(samples=64, general_levels=4, image_levels=1, text_levels=1)
    recs = [render_sample(cfg, i, i % 4)[2] for i in range(40)]
    assert len({r["texture"] for r in recs}) > 1 and len({r["place"] for r in recs}) > 1


@pytest.mark.parametrize(("gamma", "levels"), [(0.0, (1, 2, 2)), (0.5, (4, 2, 2)), (1.0, (4, 1, 1))])
def test_levels_for_gamma(gamma: float, levels: tuple[int, int, int]) -> None:
    assert levels_for_gamma(gamma) == levels
    assert ImageTextConfig(general_levels=levels[0], image_levels=levels[1],
                           text_levels=levels[2]).shares()["gamma"] == pytest.approx(gamma)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_synth_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_kind_image_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_synth(_args("--out", str(tmp_path), "--kind", "image-text", "--clips", "20", "--gamma", "0",
                           "--json", str(tmp_path / "s.json"))) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["classes"] == 4 and summary["gamma"] == 0.0 and "γ=0.000" in capsys.readouterr().out
    assert len(list((tmp_path / "images").glob("*.png"))) == 20


def test_cli_refuses_mixed_knobs(tmp_path: Path) -> None:
    with pytest.raises(SynthConfigError, match="--fps"):
        run_synth(_args("--out", str(tmp_path), "--kind", "image-text", "--fps", "4"))
    with pytest.raises(SynthConfigError, match="--kind image-text"):
        run_synth(_args("--out", str(tmp_path), "--text-levels", "2"))
    with pytest.raises(SynthConfigError, match="--gamma picks"):
        run_synth(_args("--out", str(tmp_path), "--kind", "image-text", "--gamma", "0.5", "--image-levels", "2"))
    with pytest.raises(SynthConfigError, match="hue_jitter"):
        ImageTextConfig(hue_jitter=0.2)
    assert np.isfinite(ImageTextConfig().shares()["gamma"])
