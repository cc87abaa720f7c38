"""Tokenizers, through Hugging Face ``tokenizers``: byte-level BPE (GPT-2's kind, and the
studio's own models: any Unicode in, the same text out) and the book's word-level vocabulary
(lower-cased, punctuation split off, unknown words as <unk>).

A tokenizer lives in one ``tokenizer.json`` beside the weights. GPT-2 folders that carry only
``vocab.json`` + ``merges.txt`` load too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

END = "<|endoftext|>"
UNK = "<unk>"


class TextTokenizer:
    """Encode text to ids and back; ``end_id`` separates documents and starts an empty prompt."""

    def __init__(self, tok: Tokenizer):
        self.tok = tok
        end = tok.token_to_id(END)
        self.end_id = end if end is not None else 0
        self.kind = "word" if isinstance(tok.model, models.WordLevel) else "bpe"

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=False)

    def token_text(self, i: int) -> str:
        """How one token reads on its own (for the odds chart)."""
        return self.decode([i])

    def save(self, path: Path) -> None:
        self.tok.save(str(path))

    def to_json(self) -> str:
        return self.tok.to_str()

    @classmethod
    def load(cls, path: Path) -> TextTokenizer:
        """``tokenizer.json``, or a folder holding it or GPT-2's ``vocab.json`` + ``merges.txt``."""
        path = Path(path)
        if path.is_dir():
            if (path / "tokenizer.json").exists():
                path = path / "tokenizer.json"
            elif (path / "vocab.json").exists() and (path / "merges.txt").exists():
                return cls.from_vocab_merges(path / "vocab.json", path / "merges.txt")
            else:
                raise ValueError(f"{path}: no tokenizer.json, nor vocab.json + merges.txt")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as exc:
            raise ValueError(f"{path.name}: not a readable tokenizer ({exc})") from None

    @classmethod
    def from_json(cls, text: str) -> TextTokenizer:
        return cls(Tokenizer.from_str(text))

    @classmethod
    def from_vocab_merges(cls, vocab: Path, merges: Path) -> TextTokenizer:
        bpe = models.BPE.from_file(str(vocab), str(merges))
        tok = Tokenizer(bpe)
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        if END in json.loads(Path(vocab).read_text(encoding="utf-8")):
            tok.add_special_tokens([END])
        return cls(tok)


def train_bpe(texts: Iterable[str], vocab_size: int = 2048,
              min_frequency: int = 2) -> TextTokenizer:
    """A byte-level BPE trained on ``texts``: every byte is in the alphabet, so nothing is
    ever unknown."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return TextTokenizer(tok)


def train_words(texts: Iterable[str], vocab_size: int = 10000) -> TextTokenizer:
    """The book's word-level vocabulary: lower-cased, punctuation split into its own tokens."""
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s+"), behavior="removed"),
        pre_tokenizers.Split(Regex(r"[^\w\s]"), behavior="isolated"),
    ])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words with spaces
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=[END, UNK],
                                        show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return TextTokenizer(tok)


class StreamDecoder:
    """Turns ids, one at a time, into text chunks that never split a UTF-8 character: a byte-level
    token may hold half of one, so text is held back until it decodes cleanly."""

    def __init__(self, tokenizer: TextTokenizer, context: list[int] | None = None):
        self.tokenizer = tokenizer
        self.ids = list(context or [])[-4:]  # a little context, so spacing decodes right
        self.prefix = 0  # the first chunk is told apart from the decoded context
        self.read = len(self.ids)

    def push(self, token: int) -> str:
        self.ids.append(token)
        before = self.tokenizer.decode(self.ids[self.prefix:self.read])
        now = self.tokenizer.decode(self.ids[self.prefix:])
        if now.endswith("\ufffd") or len(now) <= len(before):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return now[len(before):]
