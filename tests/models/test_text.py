"""The text path: WordPiece trained on a split, local pretrained directories, a tiny BERT classifier and taps on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from xmodal.analysis.mfh.teachers import NullifiedTeacher
from xmodal.data.text import TextTokenizer, train_wordpiece
from xmodal.models.proxy import Proxy, tap_channels
from xmodal.models.taps import FeatureTaps
from xmodal.models.text import BertClassifier, BertSpec, build_bert, proxy_layer_index

TEXTS = ["a red ball on the grass", "the blue cube is striped", "a green cone with dots", "two red cubes"] * 4
TINY = BertSpec(vocab_size=64, hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
                max_position_embeddings=16, dropout=0.0)


def test_wordpiece_is_trained_on_the_split_and_round_trips(tmp_path: Path) -> None:
    tok = train_wordpiece(TEXTS, vocab_size=64)
    ids = tok.encode(["a red cube", "blue"], max_length=8)
    assert ids.shape == (2, 8) and ids.dtype == torch.long
    assert ids[0, 0] == tok.tokenizer.token_to_id("[CLS]") and ids[1, -1] == tok.pad_id
    assert tok.tokenizer.token_to_id("zebra") is None  # only the training texts' words
    tok.save(tmp_path / "tok")
    assert torch.equal(TextTokenizer.load(tmp_path / "tok").encode(["a red cube", "blue"], 8), ids)
    assert tok.encode(["word " * 20], 6).shape == (1, 6)  # truncated to max_length


def test_a_bert_vocab_txt_directory_loads_with_its_case_setting(tmp_path: Path) -> None:
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "red", "##s", "cube"]
    (tmp_path / "vocab.txt").write_text("\n".join(words))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    ids = TextTokenizer.load(tmp_path).encode(["Reds CUBE dog"], 8)[0].tolist()
    assert ids == [2, 5, 6, 7, 1, 3, 0, 0]


def test_missing_text_model_directories_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such directory"):
        TextTokenizer.load(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        build_bert(BertSpec(pretrained=str(tmp_path)))


def test_bert_classifier_padding_does_not_change_logits_and_taps_are_channels_first() -> None:
    torch.manual_seed(0)
    tok = train_wordpiece(TEXTS, vocab_size=64)
    net = BertClassifier(build_bert(TINY), num_classes=3, pad_id=tok.pad_id).eval()
    short, long = tok.encode(["a red cube"], 8), tok.encode(["a red cube"], 14)
    layer = f"hidden.{proxy_layer_index(net.bert)}"
    with FeatureTaps(net, ["hidden.3"]) as last:
        logits_short, cls_short = net(short), last.features["hidden.3"][..., 0]
        logits_long, cls_long = net(long), last.features["hidden.3"][..., 0]
    assert cls_short.abs().mean() > 0.1 and torch.allclose(cls_short, cls_long, atol=1e-5)  # pads are masked out
    assert torch.allclose(logits_short, logits_long, atol=1e-6)
    assert layer == "hidden.2" and tap_channels(net, layer, short) == 16
    with FeatureTaps(net, [layer]) as taps:
        net(long)
    feat = taps.features[layer]
    assert feat.shape == (1, 16, 14)
    real = (long[0] != tok.pad_id).sum()
    assert torch.allclose(feat.mean(-1), feat[..., :real].mean(-1), atol=1e-5)  # mean over positions = masked mean
    assert Proxy(16, 3)(feat.expand(2, -1, -1)).shape == (2, 3)


def test_a_nullified_bert_layer_changes_the_output() -> None:
    torch.manual_seed(0)
    tok = train_wordpiece(TEXTS, vocab_size=64)
    net = BertClassifier(build_bert(TINY), num_classes=3, pad_id=tok.pad_id).eval()
    ids = tok.encode(TEXTS[:4], 10)
    with FeatureTaps(net, ["hidden.2"], detach=True) as taps:
        net(ids)
        before = taps.features["hidden.2"]
        NullifiedTeacher(net, list(range(8)), layer="hidden.1", mode="zero")(ids)
        after = taps.features["hidden.2"]
    assert (after - before).abs().mean() > 0.1 * before.abs().mean()  # the edit flows on into the next layer


def test_pretrained_directory_is_loaded_offline(tmp_path: Path) -> None:
    torch.manual_seed(0)
    bert = build_bert(TINY)
    bert.save_pretrained(tmp_path / "bert")
    loaded = build_bert(BertSpec(pretrained=str(tmp_path / "bert")))
    assert all(torch.equal(a, b) for a, b in zip(bert.state_dict().values(), loaded.state_dict().values(), strict=True))
