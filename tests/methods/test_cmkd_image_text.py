"""C²KD and the baselines run unchanged on image–text pairs (T→I and I→T), with the MFH toolkit on the same pairs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from xmodal.analysis.mfh.distill import distill_with_diagnostic, penultimate
from xmodal.analysis.mfh.ranking import RankConfig, joint_train, permutation_salience
from xmodal.cli.main import main
from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.data.synth.image_text import ImageTextConfig, generate_image_text
from xmodal.methods.cmkd_data import load_splits
from xmodal.methods.cmkd_run import DistillRunConfig, build_net, build_text_net, proxy_layer, run_distill

TINY = ["text.hidden_size=16", "text.num_hidden_layers=2", "text.intermediate_size=32", "text.num_attention_heads=2",
        "small_widths=[4, 8, 8]", "epochs=1", "teacher_epochs=1", "select_from=0", "seeds=[1]", "batch_size=16",
        "data.text_max_length=16", "data.vocab_size=80"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("imtx")
    return generate_image_text(ImageTextConfig(samples=64, general_levels=2, image_levels=2, text_levels=1), out)


def _cfg(direction: str, manifest: Path, *extra: str) -> DistillRunConfig:
    return load_config(DistillRunConfig, config_path(f"c2kd/synthetic_image_text_{direction}"),
                       [f"data.manifest={manifest}", *TINY, *extra])


@pytest.mark.parametrize("direction", ["t2i", "i2t"])
def test_c2kd_and_baselines_on_image_text(bench: Path, direction: str) -> None:
    cfg = _cfg(direction, bench, "methods=[none, kd, nkd, c2kd]")
    splits = load_splits(cfg.data)
    assert splits.modalities == ("image", "text") and splits.data["train"]["text"].dtype == torch.long
    assert splits.data["train"]["image"].shape[1:] == (3, 32, 32) and splits.meta["vocab_size"] <= 80
    result = run_distill(cfg, splits)
    assert set(result["summary"]) == {"teacher", "none", "kd", "nkd", "c2kd"}
    assert "selected_frac_per_epoch" in result["seeds"][0]["c2kd"]  # C²KD's selection ran between the proxies
    assert result["val_source"] == "manifest" and result["splits"]["gamma"] == pytest.approx(0.5)


def test_bert_proxy_layer_and_feature_kd_refusal(bench: Path) -> None:
    cfg = _cfg("i2t", bench)
    splits = load_splits(cfg.data)
    net = build_text_net(cfg.text, splits, splits.num_classes, None)
    assert proxy_layer("bert", net) == "hidden.0"  # three quarters of 2 layers
    with pytest.raises(ValueError, match="does not take text"):
        _cfg("i2t", bench, "student_arch=small").validate()


def test_images_that_do_not_decode_are_skipped_and_counted(tmp_path: Path) -> None:
    manifest = generate_image_text(ImageTextConfig(samples=40, general_levels=2, text_levels=2), tmp_path)
    first_train = next(r for r in manifest.read_text().splitlines()[1:] if ",train," in r).split(",")[0]
    (tmp_path / first_train).write_bytes(b"\x89PNG truncated")
    splits = load_splits(_cfg("t2i", manifest).data)
    assert splits.meta["skipped_images"] == {"corrupt": 1}
    with pytest.raises(Exception, match=Path(first_train).name.replace(".", r"\.")):
        load_splits(_cfg("t2i", manifest, "data.on_error=raise").data)


def test_diagnostic_and_algorithm1_accept_image_text_pairs(bench: Path) -> None:
    cfg = _cfg("t2i", bench, "methods=[none, kd]")
    splits = load_splits(cfg.data)
    result = distill_with_diagnostic(cfg, splits)
    diag = result["diagnostic"]
    assert diag["split"] == "val" and len(diag["per_seed"]) == 1 and 0.0 <= diag["gamma_hat"] <= 1.0
    text_net = build_text_net(cfg.text, splits, splits.num_classes, None)
    feats, logits = penultimate(text_net, splits.data["val"]["text"])
    assert feats.shape == (len(logits), 16)
    # MFH Algorithm 1 with f_a = BERT (text), f_b = a CNN (images), salience over a named BERT layer's units
    from xmodal.models.cnn import SmallCNN

    train = splits.data["train"]
    image_net = SmallCNN(3, splits.num_classes, widths=(4, 8, 8), hidden=(16, 8))
    rank = RankConfig(epochs=2, repeats=1)
    gen = torch.Generator().manual_seed(0)
    joint_train(text_net, image_net, train["text"], train["image"], train["label"], rank, gen)
    salience = permutation_salience(text_net, image_net, train["text"], train["image"], rank, gen, layer="hidden.0")
    assert salience.shape == (16,) and np.isclose(salience.max(), 1.0)


def test_cli_stores_the_vocabulary_and_names_a_missing_text_model(bench: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    code = main(["distill", "--config", "c2kd/synthetic_image_text_t2i", f"data.manifest={bench}", *TINY,
                 "methods=[none]", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert Path(result["tokenizer"]).is_file() and result["config"]["student_modality"] == "image"
    assert main(["distill", "--config", "c2kd/synthetic_image_text_t2i", "--text-model", str(tmp_path / "no")]) == 2


def test_a_local_pretrained_text_model_is_used(bench: Path, tmp_path: Path) -> None:
    from xmodal.data.text import train_wordpiece
    from xmodal.models.text import BertSpec, build_bert

    local = tmp_path / "bert"
    tok = train_wordpiece(["a red disk", "the blue square in a kitchen"], vocab_size=40)
    tok.save(local)
    build_bert(BertSpec(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)).save_pretrained(local)
    cfg = _cfg("i2t", bench, f"data.text_model={local}", "methods=[none]")
    splits = load_splits(cfg.data)
    assert splits.meta["vocab_size"] == tok.vocab_size and splits.meta["text_model"] == str(local)
    net = build_text_net(cfg.text, splits, splits.num_classes, cfg.data.text_model)
    assert net.bert.config.vocab_size == tok.vocab_size


def test_c2kd_between_bert_and_shufflenet_computes_every_term(bench: Path) -> None:
    from xmodal.methods.c2kd import C2KD, C2KDConfig
    from xmodal.methods.cmkd_run import build_net
    from xmodal.training.optim import OptimConfig

    cfg = _cfg("t2i", bench)
    splits = load_splits(cfg.data)
    train = splits.data["train"]
    teacher = build_text_net(cfg.text, splits, splits.num_classes, None)
    student = build_net("shufflenet_v2", 3, splits.num_classes, (4, 8, 8))
    c2 = C2KDConfig(student_key="image", teacher_key="text", student_layer=proxy_layer("shufflenet_v2", student),
                    teacher_layer=proxy_layer("bert", teacher))
    batch = {"image": train["image"][:8], "text": train["text"][:8], "label": train["label"][:8]}
    module = C2KD(student, teacher, c2, OptimConfig(), example=batch)
    terms = module.compute_losses(batch, "val")
    assert c2.student_layer == "stage3" and module.s_proxy.fc.in_features == 232
    assert {"ce", "teacher_ce", "s_proxy", "t_proxy", "nt_s_from_t", "nt_t_from_s"} <= set(terms)
    assert all(torch.isfinite(v) for v in terms.values())
    sum(terms.values()).backward()
    assert teacher.bert.encoder.layer[0].attention.self.query.weight.grad is not None  # the teacher trains (Ours†)


@pytest.mark.parametrize("direction", ["t2i", "i2t"])
def test_shake_shadow_head_on_a_bert_teacher_and_a_cnn_teacher(bench: Path, direction: str) -> None:
    """SHAKE on image–text pairs: a BERT teacher's hidden.<i> token maps (T→I) or a CNN teacher's stages (I→T) feed
    the shadow head, which ends in the teacher's detached classifier; with a BERT teacher the head's average runs
    over the real tokens only (appending pads changes nothing), and the head trains while the teacher stays put."""
    from xmodal.methods.cmkd_baselines import BaselineKD
    from xmodal.training.optim import OptimConfig

    cfg = _cfg(direction, bench, "baseline.shake_layers=[hidden.0, hidden.1]" if direction == "t2i" else "epochs=1")
    splits = load_splits(cfg.data)
    train = splits.data["train"]
    batch = {"image": train["image"][:8], "text": train["text"][:8], "label": train["label"][:8]}
    text_net = build_text_net(cfg.text, splits, splits.num_classes, None)
    image_net = build_net("small", 3, splits.num_classes, (4, 8, 8))
    teacher, student = (text_net, image_net) if direction == "t2i" else (image_net, text_net)
    base = copy.deepcopy(cfg.baseline)
    base.kind, base.student_key, base.teacher_key = "shake", cfg.student_modality, cfg.teacher_modality
    module = BaselineKD(student, teacher, base, OptimConfig(optimizer="sgd", lr=0.1), example=batch)
    head = module.shadow
    assert head is not None and head.fc is None and head.dims == (1 if direction == "t2i" else 2)
    module.eval()
    terms = module.compute_losses(batch, "train")
    assert set(terms) == {"ce", "kd"} and all(torch.isfinite(v) for v in terms.values())
    if direction == "t2i":  # 16 channels of hidden.0/1 = the classifier's input; pads are not averaged in
        assert [d[0].kernel_size for d in head.down] == [(3,)] and head.out_features == 16
        feats = [module._t_taps.features[n] for n in ("hidden.0", "hidden.1")]
        h = head(feats, text_net.classifier.weight, text_net.classifier.bias, mask=batch["text"] != text_net.pad_id)
        padded = dict(batch, text=torch.nn.functional.pad(batch["text"], (0, 6), value=text_net.pad_id))
        module.compute_losses(padded, "train")
        feats = [module._t_taps.features[n] for n in ("hidden.0", "hidden.1")]
        h_padded = head(feats, text_net.classifier.weight, text_net.classifier.bias,
                        mask=padded["text"] != text_net.pad_id)
        assert torch.allclose(h, h_padded, atol=1e-4)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    head_before = head.out[0].weight.clone()
    module.train()
    opt = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        sum(module.compute_losses(batch, "train").values()).backward()
        opt.step()
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())
    assert not torch.equal(head.out[0].weight, head_before)


def test_shake_runs_from_the_image_text_configs(bench: Path) -> None:
    cfg = _cfg("t2i", bench, "methods=[shake]", "baseline.shake_layers=[hidden.0, hidden.1]")
    result = run_distill(cfg, load_splits(cfg.data))
    assert set(result["summary"]) == {"teacher", "shake"} and 0.0 <= result["summary"]["shake"]["test_mean"] <= 100.0


@pytest.mark.parametrize("direction", ["t2i", "i2t"])
def test_the_crisismmd_configs_shake_levels_build_on_their_networks(direction: str) -> None:
    """BERT-base depth (12 layers, narrow) and ShuffleNet V2 ×1.0 take the shipped ``baseline.shake_layers`` and end
    in the teacher's classifier (the last level has its input width)."""
    from xmodal.methods.cmkd_baselines import BaselineKD
    from xmodal.models.text import BertClassifier, BertSpec, build_bert
    from xmodal.training.optim import OptimConfig

    cfg = load_config(DistillRunConfig, config_path(f"c2kd/crisismmd_{direction}"), ["data.root=/nowhere"])
    assert "shake" in cfg.methods
    bert = BertClassifier(build_bert(BertSpec(vocab_size=50, hidden_size=16, num_hidden_layers=12,
                                              num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)),
                          5, pad_id=0)
    cnn = build_net("shufflenet_v2", 3, 5, (4, 8, 8))
    teacher, student = (bert, cnn) if direction == "t2i" else (cnn, bert)
    ids = torch.randint(1, 50, (2, 12))
    batch = {"image": torch.randn(2, 3, 64, 64), "text": ids, "label": torch.tensor([0, 4])}
    base = copy.deepcopy(cfg.baseline)
    base.kind, base.student_key, base.teacher_key = "shake", cfg.student_modality, cfg.teacher_modality
    module = BaselineKD(student, teacher, base, OptimConfig(), example=batch)
    assert module.shadow is not None and module.shadow.fc is None
    assert module.shadow.out_features == (16 if direction == "t2i" else 1024)
    module.eval()
    assert torch.isfinite(module.compute_losses(batch, "train")["kd"])
