"""Synthetic image–text Modality-Venn-Diagram benchmark: pictures of one object, captions from a small grammar.

The label is built from three decisive factors, as in the audio-visual benchmark (MFH §4.1, Eq. 2–3; Xue et al.,
"The Modality Focusing Hypothesis: Towards Understanding Crossmodal Knowledge Distillation", ICLR 2023,
arXiv:2206.06487):

* ``general`` — modality-general, seen AND read: the object's colour (its hue in the image, a colour word, with
  synonyms, in the caption);
* ``image`` — image-specific, only seen: the object's texture (plain, stripes, dots, checker); captions never
  mention it;
* ``text`` — text-specific, only read: where the object is said to be (kitchen, park, beach, forest, with
  synonyms); the image does not show it.

``label = (general · K_i + image) · K_t + text``; γ = log K_g / log(K_g K_i K_t) (each factor counted in bits,
:meth:`ImageTextConfig.shares`). A factor with one level is not decisive but still varies at random, so the inputs
look alike at every γ and only the label rule moves. Nuisance: the shape (drawn and named: shared but not decisive),
the object's size (drawn, and said as small/large: shared), position, hue jitter, saturation, background, pixel
noise, a distractor object of random colour and texture (image), templates, synonyms, fillers and word dropout
(text). Every sample is drawn from its own ``(seed, index)`` stream and images are PNG, so the benchmark is
byte-reproducible from its seed; it takes about a second per thousand 32² images.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.data.synth.config import SynthConfigError
from xmodal.data.synth.generate import SPLIT_NAMES, assign_labels, assign_splits, csv_text

IMAGE_TEXT_VERSION = "1.0"
COLOURS: tuple[tuple[str, float, tuple[str, ...]], ...] = (  # name, hue in [0, 1), caption words
    ("red", 0.0, ("red", "crimson", "scarlet")), ("orange", 0.08, ("orange", "amber", "tangerine")),
    ("yellow", 0.16, ("yellow", "golden", "lemon")), ("green", 0.33, ("green", "emerald", "lime")),
    ("blue", 0.62, ("blue", "azure", "navy")), ("purple", 0.78, ("purple", "violet", "lilac")),
)
TEXTURES: tuple[str, ...] = ("plain", "stripes", "dots", "checker")
PLACES: tuple[tuple[str, ...], ...] = (("in a kitchen", "by the stove", "on the kitchen table"),
                                       ("in the park", "on the lawn", "near the playground"),
                                       ("at the beach", "on the sand", "by the sea"),
                                       ("in a forest", "among the trees", "in the woods"))
SHAPES: tuple[tuple[str, tuple[str, ...]], ...] = (("square", ("square", "box", "block")),
                                                   ("disk", ("disk", "circle", "round plate")),
                                                   ("diamond", ("diamond", "rhombus")),
                                                   ("triangle", ("triangle", "wedge")))
TEMPLATES: tuple[str, ...] = ("{det} {size}{colour} {shape} {place}{filler}.",
                              "{place}, {det} {size}{colour} {shape}{filler}.",
                              "look at {det} {size}{colour} {shape} {place}{filler}.",
                              "there is {det} {size}{colour} {shape} {place}{filler}.",
                              "{det} {size}{shape}, {colour}, {place}{filler}.")
FILLERS: tuple[str, ...] = ("", "", " today", " again", " in this photo", " as usual")
LABEL_RULE = "label = (general * image_levels + image_specific) * text_levels + text_specific"


@dataclass(frozen=True)
class ImageTextConfig:
    """Knobs of the image–text benchmark; ``*_levels`` set the decisive factors (and with them γ)."""

    samples: int = 1000
    seed: int = 0
    size: int = 32
    general_levels: int = 4
    image_levels: int = 1
    text_levels: int = 1
    hue_jitter: float = 0.03
    pixel_noise: float = 0.05
    distractors: int = 1
    word_dropout: float = 0.1  # chance that the colour word, and separately the place, is left out of a caption
    splits: tuple[float, float, float] = (0.7, 0.1, 0.2)

    def __post_init__(self) -> None:
        checks = [(self.samples >= 1, "samples must be >= 1"), (16 <= self.size <= 512, "size must be in 16..512"),
                  (1 <= self.general_levels <= len(COLOURS), f"general_levels must be in 1..{len(COLOURS)}"),
                  (1 <= self.image_levels <= len(TEXTURES), f"image_levels must be in 1..{len(TEXTURES)}"),
                  (1 <= self.text_levels <= len(PLACES), f"text_levels must be in 1..{len(PLACES)}"),
                  (self.num_classes >= 2, "general_levels * image_levels * text_levels must be >= 2"),
                  (0 <= self.hue_jitter < 0.05, "hue_jitter must be in [0, 0.05) (neighbouring colours stay apart)"),
                  (0 <= self.pixel_noise <= 0.5 and 0 <= self.distractors <= 3, "pixel_noise/distractors out of range"),
                  (0 <= self.word_dropout < 1, "word_dropout must be in [0, 1)"),
                  (len(self.splits) == 3 and min(self.splits) >= 0 and abs(sum(self.splits) - 1) < 1e-6,
                   "splits must be three non-negative fractions summing to 1")]
        for ok, message in checks:
            if not ok:
                raise SynthConfigError(message)

    @property
    def clips(self) -> int:  # the name assign_labels / assign_splits read
        return self.samples

    @property
    def num_classes(self) -> int:
        return self.general_levels * self.image_levels * self.text_levels

    def shares(self) -> dict[str, float]:
        """(γ, α, β) in bits: γ general, α text-specific (the text side), β image-specific."""
        bits = {k: math.log2(n) for k, n in (("g", self.general_levels), ("i", self.image_levels),
                                             ("t", self.text_levels))}
        total = sum(bits.values())
        return {"gamma": bits["g"] / total, "alpha": bits["t"] / total, "beta": bits["i"] / total}

    def factors_of(self, label: int) -> tuple[int, int, int]:
        rest, t = divmod(label, self.text_levels)
        g, i = divmod(rest, self.image_levels)
        return g, i, t

    def values(self) -> dict[str, list[int]]:
        """The colour / texture / place index each decisive level stands for (spread over the palette)."""
        return {"general": [round(k * len(COLOURS) / self.general_levels) for k in range(self.general_levels)],
                "image": [round(k * len(TEXTURES) / self.image_levels) for k in range(self.image_levels)],
                "text": [round(k * len(PLACES) / self.text_levels) for k in range(self.text_levels)]}

    def class_names(self) -> list[str]:
        v, names = self.values(), []
        for label in range(self.num_classes):
            g, i, t = self.factors_of(label)
            name = COLOURS[v["general"][g]][0] if self.general_levels > 1 else "any"
            name += f"-{TEXTURES[v['image'][i]]}" if self.image_levels > 1 else ""
            name += f"-{PLACES[v['text'][t]][0].split()[-1]}" if self.text_levels > 1 else ""
            names.append(name)
        return names


def levels_for_gamma(gamma: float, max_classes: int = 16) -> tuple[int, int, int]:
    """(general, image, text) levels with ``image == text`` whose γ is nearest ``gamma``; ties go to the class count
    nearest 4 (γ = 0 → (1, 2, 2), 0.5 → (4, 2, 2), 1 → (4, 1, 1)), the rule of the audio-visual γ ladder."""
    best: tuple[float, int, tuple[int, int, int]] | None = None
    for g in range(1, len(COLOURS) + 1):
        for k in range(1, len(TEXTURES) + 1):
            if g * k * k < 2 or g * k * k > max_classes:
                continue
            shares = ImageTextConfig(general_levels=g, image_levels=k, text_levels=k).shares()
            key = (round(abs(shares["gamma"] - gamma), 9), abs(g * k * k - 4), (g, k, k))
            best = key if best is None or key[:2] < best[:2] else best
    if best is None:
        raise SynthConfigError(f"no image-text levels with at most {max_classes} classes")
    return best[2]


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _shape_mask(shape: str, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    dx, dy = xx - cx, yy - cy
    if shape == "square":
        return (np.abs(dx) <= r * 0.8) & (np.abs(dy) <= r * 0.8)
    if shape == "disk":
        return dx**2 + dy**2 <= r**2
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    return (dy <= r * 0.7) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)  # triangle, apex up


def _texture(kind: str, xx: np.ndarray, yy: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Brightness factor in (0, 1] of a texture; the period scales with the image so it survives at 32²."""
    period = max(4.0, size / 7.0) * rng.uniform(0.9, 1.1)
    if kind == "stripes":
        theta = rng.uniform(0, math.pi)
        return np.where(np.sin(2 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / period) > 0, 1.0, 0.35)
    if kind == "dots":
        ox, oy = rng.uniform(0, period, 2)
        d = (np.mod(xx - ox, period) - period / 2) ** 2 + (np.mod(yy - oy, period) - period / 2) ** 2
        return np.where(d <= (period * 0.3) ** 2, 0.3, 1.0)
    if kind == "checker":
        cell = period / 2
        return np.where((np.floor(xx / cell) + np.floor(yy / cell)) % 2 == 0, 1.0, 0.45)
    return np.ones_like(xx)


def _draw(cfg: ImageTextConfig, rng: np.random.Generator, colour: int, texture: int, shape: int,
          radius: float) -> np.ndarray:
    n = cfg.size
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    grey = rng.uniform(0.3, 0.7)
    tint = rng.uniform(-0.08, 0.08, 3)
    img = np.clip(grey + tint, 0, 1)[None, None, :] * np.ones((n, n, 3))
    img *= (1.0 + 0.3 * (xx / n - 0.5) * rng.uniform(-1, 1))[..., None]
    objects = [(colour, texture, shape, radius, True)]
    for _ in range(cfg.distractors):  # smaller, drawn first so the main object stays on top
        objects.insert(0, (int(rng.integers(len(COLOURS))), int(rng.integers(len(TEXTURES))),
                           int(rng.integers(len(SHAPES))), radius * rng.uniform(0.35, 0.55), False))
    for c, t, s, r, main in objects:
        cx, cy = rng.uniform(r, n - r, 2) if main else rng.uniform(0, n, 2)
        hue = (COLOURS[c][1] + rng.uniform(-cfg.hue_jitter, cfg.hue_jitter)) % 1.0
        rgb = _hsv_to_rgb(hue, rng.uniform(0.7, 1.0), rng.uniform(0.75, 1.0))
        mask = _shape_mask(SHAPES[s][0], xx, yy, cx, cy, r)
        shade = _texture(TEXTURES[t], xx, yy, rng, n)
        img[mask] = (rgb[None, :] * shade[mask][:, None])
    img += rng.normal(0.0, cfg.pixel_noise, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _caption(cfg: ImageTextConfig, rng: np.random.Generator, colour: int, place: int, shape: int,
             large: bool) -> str:
    pick = lambda words: str(words[int(rng.integers(len(words)))])  # noqa: E731
    colour_word = pick(COLOURS[colour][2]) if rng.uniform() >= cfg.word_dropout else "coloured"
    place_words = pick(PLACES[place]) if rng.uniform() >= cfg.word_dropout else "somewhere"
    size = pick(("large ", "big ") if large else ("small ", "little ")) if rng.uniform() < 0.5 else ""
    text = pick(TEMPLATES).format(det=pick(("a", "the", "one")), size=size, colour=colour_word,
                                  shape=pick(SHAPES[shape][1]), place=place_words, filler=pick(FILLERS))
    return text[0].upper() + text[1:]


def render_sample(cfg: ImageTextConfig, index: int, label: int) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Image uint8 ``(size, size, 3)``, caption and factor record of sample ``index`` (class ``label``)."""
    rng = np.random.default_rng([cfg.seed, index, 0x17E7])
    g, i, t = cfg.factors_of(label)
    v = cfg.values()
    colour = v["general"][g] if cfg.general_levels > 1 else int(rng.integers(len(COLOURS)))
    texture = v["image"][i] if cfg.image_levels > 1 else int(rng.integers(len(TEXTURES)))
    place = v["text"][t] if cfg.text_levels > 1 else int(rng.integers(len(PLACES)))
    shape = int(rng.integers(len(SHAPES)))
    radius = cfg.size * rng.uniform(0.22, 0.36)
    large = radius > cfg.size * 0.29
    image = _draw(cfg, rng, colour, texture, shape, radius)
    text = _caption(cfg, rng, colour, place, shape, large)
    record = {"index": index, "label": label, "general": g, "image_specific": i, "text_specific": t,
              "colour": COLOURS[colour][0], "texture": TEXTURES[texture], "place": PLACES[place][0],
              "shape": SHAPES[shape][0], "radius_px": round(radius, 3)}
    return image, text, record


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def generate_image_text(cfg: ImageTextConfig, out_dir: str | Path) -> Path:
    """Write ``images/<id>.png``, ``manifest.csv`` (path, label, split, id, text), ``manifest.json`` (classes,
    γ, the factors) and ``factors.csv`` under ``out_dir``; returns the manifest path. ``images/`` is replaced."""
    out = Path(out_dir)
    image_dir = out / "images"
    if image_dir.exists():
        shutil.rmtree(image_dir)
    image_dir.mkdir(parents=True)
    labels = assign_labels(cfg)  # type: ignore[arg-type]  # reads clips, seed, num_classes
    splits = assign_splits(cfg, labels)  # type: ignore[arg-type]
    names, rows, factors = cfg.class_names(), [], []
    for index in range(cfg.samples):
        image, text, record = render_sample(cfg, index, int(labels[index]))
        sample_id = f"imtx_{index:06d}"
        (image_dir / f"{sample_id}.png").write_bytes(_png(image))
        rows.append({"path": f"images/{sample_id}.png", "label": names[int(labels[index])], "split": splits[index],
                     "id": sample_id, "text": text})
        factors.append({"id": sample_id, "split": splits[index], **record})
    (out / "manifest.csv").write_text(csv_text(rows))
    (out / "factors.csv").write_text(csv_text(factors))
    v = cfg.values()
    meta = {"generator": "xmodal.data.synth.image_text", "version": IMAGE_TEXT_VERSION, "kind": "image-text",
            "modalities": ["image", "text"], "seed": cfg.seed, "knobs": _knobs(cfg), **cfg.shares(),
            "num_classes": cfg.num_classes, "label_rule": LABEL_RULE, "factors_file": "factors.csv",
            "factors": {"general": {"levels": cfg.general_levels, "seen_as": "object colour (hue)",
                                    "read_as": "colour word", "values": [COLOURS[k][0] for k in v["general"]]},
                        "image_specific": {"levels": cfg.image_levels, "seen_as": "object texture",
                                           "values": [TEXTURES[k] for k in v["image"]]},
                        "text_specific": {"levels": cfg.text_levels, "read_as": "place phrase",
                                          "values": [PLACES[k][0] for k in v["text"]]}},
            "split_counts": {name: splits.count(name) for name in SPLIT_NAMES}}
    sidecar = {"name": "synthetic_image_text", "classes": names, "meta": meta}
    (out / "manifest.json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return out / "manifest.csv"


def _knobs(cfg: ImageTextConfig) -> dict[str, Any]:
    out = dataclasses.asdict(cfg)
    out["splits"] = list(cfg.splits)
    return out
