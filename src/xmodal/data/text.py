"""Text for the image–text path: WordPiece tokenization with Hugging Face ``tokenizers``.

Either a vocabulary is *trained* on the training split's texts (:func:`train_wordpiece`; BERT's normaliser and
pre-tokeniser, ``[PAD] [UNK] [CLS] [SEP] [MASK]`` specials, ``[CLS] … [SEP]`` template) and stored with the run
(:meth:`TextTokenizer.save` → ``tokenizer.json``), or the one of a *local pretrained* directory is loaded
(:meth:`TextTokenizer.load`: its ``tokenizer.json``, else BERT's ``vocab.txt`` with ``do_lower_case`` from
``tokenizer_config.json``). Nothing is fetched from the network. Encoded text is one ``(N, max_length)`` int64
tensor padded with the pad id: the attention mask is ``ids != pad_id`` (every row starts with ``[CLS]``), so a
batch of text is a single tensor like a batch of images, and the C²KD trainer and baselines take it unchanged.

``tokenizers`` is an optional dependency (the ``text`` extra); it is imported on first use, with one error line
saying how to install it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

SPECIALS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
INSTALL_HINT = "the image–text path needs the 'text' extra (transformers, tokenizers): pip install 'xmodal[text]'"


def require(module: str) -> Any:
    """Import an optional text dependency, or raise one ImportError line that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is not None and module.split(".")[0] != err.name.split(".")[0]:
            raise
        raise ImportError(f"{module} is not installed; {INSTALL_HINT}") from err


class TextTokenizer:
    """A ``tokenizers.Tokenizer`` with BERT's conventions; :meth:`encode` gives padded id tensors."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        pad = tokenizer.token_to_id("[PAD]")
        if pad is None or tokenizer.token_to_id("[CLS]") is None:
            raise ValueError("the tokenizer has no [PAD] or [CLS] token; give a BERT-style WordPiece vocabulary")
        self.pad_id = int(pad)

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    def encode(self, texts: Sequence[str], max_length: int) -> torch.Tensor:
        """``(len(texts), max_length)`` int64 ids: ``[CLS] … [SEP]``, truncated, padded with ``pad_id``."""
        tok = self.tokenizer
        tok.enable_truncation(max_length)
        tok.enable_padding(length=max_length, pad_id=self.pad_id, pad_token="[PAD]")
        ids = [e.ids for e in tok.encode_batch(list(texts))]
        return torch.tensor(ids, dtype=torch.long).reshape(len(ids), max_length)

    def save(self, directory: str | Path) -> Path:
        """Write ``tokenizer.json`` into ``directory`` (created); :meth:`load` reads it back."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.tokenizer.save(str(out / "tokenizer.json"))
        return out / "tokenizer.json"

    @classmethod
    def load(cls, directory: str | Path) -> TextTokenizer:
        """The tokenizer of a local directory (``tokenizer.json``, or BERT's ``vocab.txt``); a missing directory or
        one without either file is one error naming it."""
        tokenizers = require("tokenizers")
        path = Path(directory)
        if not path.is_dir():
            raise FileNotFoundError(f"--text-model {path}: no such directory; give a local BERT directory "
                                    "(config.json + weights + vocab.txt or tokenizer.json), nothing is downloaded")
        if (path / "tokenizer.json").is_file():
            return cls(tokenizers.Tokenizer.from_file(str(path / "tokenizer.json")))
        if (path / "vocab.txt").is_file():
            lower = True
            if (path / "tokenizer_config.json").is_file():
                lower = bool(json.loads((path / "tokenizer_config.json").read_text()).get("do_lower_case", True))
            vocab = {t: i for i, t in enumerate((path / "vocab.txt").read_text(encoding="utf-8").splitlines())}
            tok = _bert_pipeline(tokenizers, tokenizers.models.WordPiece(vocab, unk_token="[UNK]"), lower)
            _template(tokenizers, tok)
            return cls(tok)
        raise FileNotFoundError(f"--text-model {path}: neither tokenizer.json nor vocab.txt in it")


def _bert_pipeline(tokenizers: Any, model: Any, lowercase: bool) -> Any:
    tok = tokenizers.Tokenizer(model)
    tok.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tok.decoder = tokenizers.decoders.WordPiece()
    return tok


def _template(tokenizers: Any, tok: Any) -> None:
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])


def train_wordpiece(texts: Iterable[str], vocab_size: int = 30522, min_frequency: int = 1,
                    lowercase: bool = True) -> TextTokenizer:
    """A BERT-style WordPiece vocabulary learnt from ``texts`` (give the training split only: a vocabulary learnt
    on test text would leak it)."""
    tokenizers = require("tokenizers")
    tok = _bert_pipeline(tokenizers, tokenizers.models.WordPiece(unk_token="[UNK]"), lowercase)
    trainer = tokenizers.trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                                   special_tokens=list(SPECIALS), show_progress=False)
    tok.train_from_iterator(list(texts), trainer)
    _template(tokenizers, tok)
    return TextTokenizer(tok)
