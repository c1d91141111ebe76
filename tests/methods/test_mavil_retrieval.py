"""Audio→video retrieval on MAViL exports through ``xmodal eval retrieval`` (MAViL §4, Table 9): zero-shot on the
pre-fusion mean-pooled embeddings (what the inter-modal term aligns), read on the export's own Kaldi-fbank / 2 fps
geometry, equal to a direct computation with :meth:`MAViLEncoder.features`; the encoder-stack export gives the same
numbers as the plain audio/video exports; the fine-tuned protocol runs on them."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from xmodal.cli.main import main
from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.data.dataset import AVDataset, read_manifest
from xmodal.eval.features import FeatureSet
from xmodal.eval.geometry import EvalGeometry
from xmodal.eval.retrieval import retrieval_eval
from xmodal.methods.mavil import MAViL
from xmodal.methods.mavil_config import MAViLConfig
from xmodal.methods.mavil_pretrain import eval_geometry, export_encoders

TINY = [
    "model.dim=32", "model.depth=1", "model.heads=2", "model.fusion_depth=1", "model.decoder_dim=16",
    "model.decoder_depth=1", "model.decoder_heads=2", "data.clip_seconds=2.0", "data.clips.frames=4",
    "data.clips.audio_seconds=2.0", "data.clips.fbank.num_mel_bins=32", "data.clips.fbank.target_length=192",
]


def retrieval(*argv: str, out: Path) -> dict:
    assert main(["eval", "retrieval", *argv, "--train-clips", "1", "--test-clips", "1", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_retrieval_on_mavil_exports(tmp_path: Path, synth_manifest: Path) -> None:
    cfg = load_config(MAViLConfig, config_path("mavil/synthetic_tiny"), [*TINY, f"data.source={synth_manifest}"])
    torch.manual_seed(3)
    method = MAViL(cfg).eval()
    exports = export_encoders(method, tmp_path / "export")
    data = ["--data", str(synth_manifest)]
    plain = retrieval("--audio-backbone", exports["audio"], "--video-backbone", exports["video"], *data,
                      out=tmp_path / "plain.json")
    stack = retrieval("--audio-backbone", exports["encoder"], "--video-backbone", exports["encoder"], *data,
                      out=tmp_path / "stack.json")
    assert stack["per_split"][0]["a2v"] == plain["per_split"][0]["a2v"]
    assert plain["protocol"]["features"]["extraction"]["audio"]["geometry"]["frontend"] == "kaldi_fbank"

    # the same number from MAViLEncoder.features on the centred test clips, decoded on the training geometry
    geo = EvalGeometry(**eval_geometry(cfg))
    video_spec, audio_spec = geo.specs()
    rows = read_manifest(synth_manifest).split("test")
    clips = [AVDataset(rows, clip_seconds=geo.clip_seconds, sampling="center", transform=geo.transform(),
                       video=video_spec, audio=audio_spec)[i] for i in range(len(rows.rows))]
    audio, video = torch.stack([c["audio"] for c in clips]), torch.stack([c["video"] for c in clips])
    feats = method.encoder.features(audio, video)  # pre-fusion means per modality
    ids, labels = [c["id"] for c in clips], torch.tensor([c["label"] for c in clips]).numpy()
    split = ["test"] * len(clips)
    direct = retrieval_eval(FeatureSet(feats["audio"].numpy(), labels, ids, split),
                            FeatureSet(feats["video"].numpy(), labels, ids, split))
    assert direct["n"] == plain["per_split"][0]["n"] == len(clips)
    for k, value in direct["a2v"].items():
        assert abs(plain["per_split"][0]["a2v"][k] - value) < 1e-6, k

    tuned = retrieval("--finetune", "--audio-backbone", exports["audio"], "--video-backbone", exports["video"], *data,
                      out=tmp_path / "tuned.json")
    row = tuned["per_split"][0]
    assert 0.0 <= row["a2v"]["R@1"] <= 1.0 and row["n"] == len(clips)
    assert row["n_train_pairs"] == sum(r.split in ("train", "val") for r in read_manifest(synth_manifest).rows)
    assert tuned["metric"] == "a2v R@1" and tuned["mean"] == row["a2v"]["R@1"]
