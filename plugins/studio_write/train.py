"""``write.train``: train a GPT on your own text, with a loss curve, samples and checkpoints.

The loop is nanoGPT's: random windows of the token stream, AdamW with a linear warm-up and a
cosine decay to a tenth of the learning rate, gradient clipping, bf16 autocast on CUDA. Each
evaluation measures the validation loss per token and per character (the sum of the token
losses over the number of characters, comparable with character-level models), shows a sample,
writes a checkpoint to ``<user models>/<model_id>/train_state/`` and registers the model as it
is now, so it can be tried while training goes on. ``--resume`` continues from the checkpoint:
weights, optimizer moments, step and random states, so a resumed run gives the weights an
uninterrupted run would. ``--start-from MODEL`` fine-tunes another write model: training
begins with its weights and tokenizer (its shape and vocabulary, whatever the size flags say).

Checkpoints hold no pickle: tensors are safetensors, everything else JSON.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.tasks import Context, Event, Log, Preview, Progress, Task, param
from studio.training import (
    base_licence,
    command_line,
    fp16_tensors,
    optimizer_tensors,
    read_checkpoint,
    restore_optimizer,
    restore_rng,
    rng_state,
    save_checkpoint,
    save_tensors,
    starting_point,
    user_models_dir,
)

if TYPE_CHECKING:  # torch and the model are imported when a task runs, not when the plugin loads
    import torch

    from studio.models import ModelCard
    from studio_write.data import Source
    from studio_write.gpt import GPT, GPTConfig
    from studio_write.tokenizer import TextTokenizer

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STATE_DIR = "train_state"
# the flags whose values come from the --start-from model instead
BASE_FLAGS = ("tokenizer", "vocab_size", "n_layer", "n_head", "n_embd", "block_size")
EVAL_WINDOWS = 48  # windows per evaluation while training; the last one reads all of it
SAMPLE_TOKENS = 160


@dataclass
class TrainParams:
    files: str = param(help="training text: .txt/.md files or a wine-review .csv; "
                            "several separated by |")
    model_id: str = param("write.mine", help="name of the trained model")
    tokenizer: str = param("bpe", choices=("bpe", "word"),
                           help="bpe: byte-level, any text; word: the book's word vocabulary")
    vocab_size: int = param(2048, min=64, max=100_000, advanced=True,
                            help="tokens in the vocabulary")
    n_layer: int = param(4, min=1, max=48, advanced=True, help="transformer blocks")
    n_head: int = param(4, min=1, max=64, advanced=True,
                        help="attention heads (divides n_embd)")
    n_embd: int = param(192, min=8, max=4096, advanced=True, help="width of the model")
    block_size: int = param(128, min=4, max=8192, advanced=True,
                            help="context length in tokens")
    dropout: float = param(0.1, min=0.0, max=0.9, advanced=True)
    batch_size: int = param(16, min=1, max=4096, advanced=True)
    max_iters: int = param(1000, min=1, max=10_000_000, help="optimizer steps in all")
    lr: float = param(1e-3, min=0.0, max=1.0, advanced=True, help="peak learning rate (AdamW)")
    warmup_iters: int = param(100, min=0, max=1_000_000, advanced=True,
                              help="linear warm-up steps")
    weight_decay: float = param(0.1, min=0.0, max=1.0, advanced=True)
    eval_interval: int = param(100, min=1, max=1_000_000, advanced=True,
                               help="steps between evaluations and checkpoints")
    val_fraction: float = param(0.1, min=0.001, max=0.5, advanced=True,
                                help="the end of each file kept for validation")
    resume: bool = param(False, help="continue from this model's checkpoint")
    start_from: str | None = param(None, model="write",
                            help="begin with this model's weights and tokenizer (e.g. "
                                 "write.classics) and train them on your text (fine-tuning); "
                                 "its shape and vocabulary are used, whatever the tokenizer and "
                                 "size flags say")
    compile: bool = param(False, advanced=True, help="torch.compile the model (gains on CUDA)")
    licence: str = param("", help="licence of the training text, for the model card")
    training_data: str = param("", help="what the text is, for the model card")


# ---------------------------------------------------------------------------------------------
# The data as token streams.


@dataclass
class Split:
    """One file's validation tokens (preceded by an end-of-text token as context)."""

    name: str
    ids: torch.Tensor
    chars: int


def _chunks(texts: list[str], size: int = 1 << 16) -> Iterator[str]:
    """Documents cut into pieces of about ``size`` characters at line ends (for the trainer)."""
    from studio_write.tokenizer import END

    for text in texts:
        for doc in text.split(END):
            start = 0
            while start < len(doc):
                end = doc.find("\n", start + size)
                end = len(doc) if end < 0 else end + 1
                yield doc[start:end]
                start = end


def ignored_flags(p: TrainParams, cfg: GPTConfig, tok: TextTokenizer) -> str:
    """The shape and vocabulary flags the user set (away from their defaults) that differ from
    the network a run takes from a checkpoint or a base model, as "--n-layer 6 is not used"
    ("" when none)."""
    have = {"tokenizer": tok.kind, "vocab_size": tok.vocab_size, "n_layer": cfg.n_layer,
            "n_head": cfg.n_head, "n_embd": cfg.n_embd, "block_size": cfg.block_size}
    fields = TrainParams.__dataclass_fields__
    unused = [f"--{k.replace('_', '-')} {getattr(p, k)}" for k in BASE_FLAGS
              if getattr(p, k) != fields[k].default and getattr(p, k) != have[k]]
    if not unused:
        return ""
    return f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used"


def make_tokenizer(kind: str, texts: list[str], vocab_size: int) -> TextTokenizer:
    from studio_write.tokenizer import train_bpe, train_words

    pieces = _chunks(texts)
    return train_bpe(pieces, vocab_size) if kind == "bpe" else train_words(pieces, vocab_size)


def encode_splits(tok: TextTokenizer, sources: list[Source], val_fraction: float
                  ) -> tuple[torch.Tensor, list[Split], list[str]]:
    """The training stream (files joined by end-of-text), each file's validation split, and the
    training texts."""
    import torch

    from studio_write import data

    train_ids: list[int] = []
    vals, train_texts = [], []
    for source in sources:
        train_text, val_text = data.split(source, val_fraction)
        train_texts.append(train_text)
        if train_ids:
            train_ids.append(tok.end_id)
        train_ids.extend(tok.encode(train_text))
        ids = tok.encode(val_text) if val_text.strip() else []
        if ids:
            vals.append(Split(source.path.name, torch.tensor([tok.end_id] + ids),
                              data.count_chars(val_text)))
    return torch.tensor(train_ids, dtype=torch.long), vals, train_texts


def get_batch(ids: torch.Tensor, block: int, batch: int, g: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    ix = torch.randint(len(ids) - block, (batch,), generator=g)
    idx = ix[:, None] + torch.arange(block)
    return ids[idx], ids[idx + 1]


def _windows(n: int, block: int) -> list[tuple[int, int]]:
    """Non-overlapping (start, length) windows predicting tokens 1..n-1 of a stream."""
    return [(s, min(block, n - 1 - s)) for s in range(0, n - 1, block)]


@contextlib.contextmanager
def evaluating(model: GPT) -> Iterator[None]:
    """Eval mode (no dropout) without gradients, then back to the mode the model was in."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def evaluate(model: GPT, vals: list[Split], batch: int, device: str,
             max_windows: int | None = None) -> dict[str, Any]:
    """Validation loss per token and per character. With ``max_windows`` an evenly spread subset
    of the windows is read (an estimate); without, every validation token is."""
    import torch
    import torch.nn.functional as F

    block = model.config.block_size
    jobs = [(v, s, n) for v in vals for s, n in _windows(len(v.ids), block)]
    if max_windows is not None and len(jobs) > max_windows:
        step = len(jobs) / max_windows
        jobs = [jobs[int(i * step)] for i in range(max_windows)]
    sums = {v.name: 0.0 for v in vals}
    counts = {v.name: 0 for v in vals}
    with evaluating(model):
        by_len: dict[int, list] = {}
        for job in jobs:
            by_len.setdefault(job[2], []).append(job)
        for n, group in by_len.items():
            for i in range(0, len(group), batch):
                part = group[i:i + batch]
                x = torch.stack([v.ids[s:s + n] for v, s, _ in part]).to(device)
                y = torch.stack([v.ids[s + 1:s + n + 1] for v, s, _ in part]).to(device)
                with _autocast(device):
                    logits, _ = model(x)
                losses = F.cross_entropy(
                    logits.float().view(-1, logits.size(-1)), y.view(-1), reduction="none")
                per_row = losses.view(len(part), n).sum(1).tolist()
                for (v, _, _), total in zip(part, per_row, strict=True):
                    sums[v.name] += total
                    counts[v.name] += n
    tokens = sum(counts.values())
    total = sum(sums.values())
    # Characters the evaluated tokens stand for: each file's characters per token.
    chars = sum(counts[v.name] * v.chars / (len(v.ids) - 1) for v in vals)
    return {
        "val_loss": total / tokens,
        "val_loss_per_char": total / chars,
        "val_tokens": tokens,
        "by_file": {v.name: round(sums[v.name] / (counts[v.name] * v.chars / (len(v.ids) - 1)),
                                  4) for v in vals if counts[v.name]},
    }


def sample(model: GPT, tok: TextTokenizer, seed: int, n: int = SAMPLE_TOKENS) -> str:
    """A short text from the model, started from an end-of-text token."""
    import torch

    from studio_write.sampling import Sampling, generate

    with evaluating(model):
        dev = model.transformer.wte.weight.device
        g = torch.Generator(device=dev if dev.type == "cuda" else "cpu").manual_seed(seed)
        out = []
        for step in generate(model, [tok.end_id], n, Sampling(0.8, top_p=0.95), g):
            if step.token == tok.end_id:
                break
            out.append(step.token)
        return tok.decode(out)


def _autocast(device: str) -> contextlib.AbstractContextManager:
    import torch

    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def lr_at(step: int, p: TrainParams) -> float:
    """Linear warm-up, then cosine decay to lr / 10 at ``max_iters``."""
    warmup = min(p.warmup_iters, p.max_iters // 2)
    if step < warmup:
        return p.lr * (step + 1) / warmup
    span = max(1, p.max_iters - warmup)
    ratio = min(1.0, (step - warmup) / span)
    return p.lr / 10 + 0.5 * (1 + math.cos(math.pi * ratio)) * (p.lr - p.lr / 10)


def make_optimizer(model: GPT, p: TrainParams, device: str) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices only (not biases, norms)."""
    import torch

    params = [q for q in model.parameters() if q.requires_grad]
    groups = [
        {"params": [q for q in params if q.dim() >= 2], "weight_decay": p.weight_decay},
        {"params": [q for q in params if q.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.startswith("cuda")
    return torch.optim.AdamW(groups, lr=p.lr, betas=(0.9, 0.99), fused=fused or None)


# ---------------------------------------------------------------------------------------------
# The model folder in the store.


def write_model_folder(folder: Path, weights: dict[str, torch.Tensor], tok: TextTokenizer,
                       config: dict[str, Any], **card_fields: Any) -> ModelCard:
    """``model.safetensors`` (fp16), ``tokenizer.json`` and ``card.json`` (written last) in
    ``folder``; returns the card. ``card_fields``: title, licence, training_data, command,
    quality, description."""

    from studio.atomic import write_atomic
    from studio.models import ModelCard, ModelFile, card_path, sha256_file

    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(fp16_tensors(weights), folder / "model.safetensors", metadata={"format": "pt"})
    write_atomic(folder / "tokenizer.json", tok.to_json().encode("utf-8"))
    files = [ModelFile(name, sha256_file(folder / name), (folder / name).stat().st_size)
             for name in ("model.safetensors", "tokenizer.json")]
    card = ModelCard(id=folder.name, capability="write", architecture="gpt", config=config,
                     files=files, folder=folder,
                     **{"title": folder.name, "licence": "unknown", "training_data": "unknown",
                        **card_fields})
    card.save(card_path(folder))
    return card


# ---------------------------------------------------------------------------------------------
# The task.


def write_train(p: TrainParams, ctx: Context) -> Iterator[Event]:
    import torch

    from studio_write import data, loading
    from studio_write.gpt import GPT, GPTConfig
    from studio_write.loading import fp16_state_dict
    from studio_write.tokenizer import TextTokenizer

    files = data.split_paths(p.files)
    if not ID_RE.match(p.model_id):
        raise ValueError(f"--model-id {p.model_id!r}: use letters, digits, '.', '_' or '-'")
    device = ctx.device
    folder = user_models_dir(ctx) / p.model_id
    state_dir = folder / STATE_DIR

    yield Progress(None, "reading the text")
    sources = data.read_sources(files)
    saved = read_checkpoint(state_dir) if p.resume else None
    if p.resume and saved is None:
        yield Log(f"no checkpoint for {p.model_id}; starting afresh", "warning")
    start = starting_point(ctx, p.start_from, saved, p.model_id, "write", "gpt")
    start_from = start.name
    if start.warning:
        yield Log(start.warning, "warning")
    if saved is not None:
        tok = TextTokenizer.from_json(saved["tokenizer"])
        cfg = GPTConfig(**saved["config"])
        cfg.dropout = p.dropout
        unused = ignored_flags(p, cfg, tok)
        if unused:
            yield Log(f"resuming: the shape and vocabulary are the checkpoint's; {unused}",
                      "warning")
    elif start.card is not None:
        tok = loading.read_tokenizer(start.card)
        cfg = loading.gpt_config(start.card.config)
        cfg.dropout = p.dropout
        unused = ignored_flags(p, cfg, tok)
        if unused:
            yield Log(f"the shape and vocabulary are {start_from}'s; {unused}", "warning")
    else:
        yield Progress(None, "learning the vocabulary")
        texts = [data.split(s, p.val_fraction)[0] for s in sources]
        tok = make_tokenizer(p.tokenizer, texts, p.vocab_size)
        if p.n_embd % p.n_head:
            raise ValueError(f"--n-embd {p.n_embd} is not a multiple of --n-head {p.n_head}")
        cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=p.block_size, n_layer=p.n_layer,
                        n_head=p.n_head, n_embd=p.n_embd, dropout=p.dropout, bias=True)
    train_ids, vals, _ = encode_splits(tok, sources, p.val_fraction)
    if len(train_ids) <= cfg.block_size + 1:
        fix = "add text" if start_from else "add text or lower --block-size"
        raise ValueError(f"too little text: {len(train_ids)} training tokens for a context of "
                         f"{cfg.block_size}; {fix}")
    if not vals:
        raise ValueError("no validation text: raise --val-fraction or add text")
    names = ", ".join(s.path.name for s in sources)
    n_chars = sum(s.chars for s in sources)
    yield Log(f"{len(train_ids):,} training tokens, {sum(len(v.ids) - 1 for v in vals):,} "
              f"validation tokens from {names} ({tok.kind} vocabulary of {tok.vocab_size})")

    model = GPT(cfg).to(device)
    opt = make_optimizer(model, p, device)
    g = torch.Generator(device="cpu").manual_seed(ctx.seed)
    step, seconds, seed = 0, 0.0, ctx.seed
    if start.weights is not None:
        try:
            loading.load_weights(model, start.weights)
        except loading.WeightsError as exc:
            raise ValueError(f"--start-from {start_from}: its weights do not fit its "
                             f"config: {exc}") from None
        start.weights = None  # loaded: no second copy for the whole run
        yield Log(f"starting from the weights and tokenizer of {start_from}")
    if saved is not None:
        model.load_state_dict(saved["model"], strict=False)
        restore_optimizer(opt, saved["optimizer"], saved["param_groups"])
        restore_rng(g, saved["rng"])
        step, seconds, seed = saved["step"], saved.get("train_seconds", 0.0), saved["seed"]
        yield Log(f"resuming {p.model_id} at step {step}")
    yield Log(f"{p.model_id}: {model.num_params() / 1e6:.2f}M parameters, {cfg.n_layer} layers, "
              f"{cfg.n_head} heads, {cfg.n_embd} wide, context {cfg.block_size}, on {device}")

    forward = model
    if p.compile:
        try:
            forward = torch.compile(model)
        except Exception as exc:  # a platform without a compiler: train eagerly
            yield Log(f"torch.compile is not available here ({exc}); training eagerly", "warning")

    licence = p.licence or f"user text: the licence of the training files applies ({names})"
    licence += base_licence(ctx, start_from)
    training_data = p.training_data or f"user text: {names} ({n_chars:,} characters)"
    shown = replace(p, start_from=start_from or None)  # the flags of the command in the card
    if start_from:  # the base model's shape and vocabulary, not the flags'
        fields = TrainParams.__dataclass_fields__
        shown = replace(shown, **{k: fields[k].default for k in BASE_FLAGS})
    meta = {"config": cfg.to_dict(), "tokenizer": tok.to_json(), "seed": seed,
            "command": command_line(TRAIN, shown, seed), "start_from": start_from}

    def save_all(step: int, quality: dict[str, Any]) -> ModelCard:
        meta["train_seconds"] = seconds
        opt_tensors, groups = optimizer_tensors(opt)
        weights = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
        save_checkpoint(state_dir, step, {"model": weights, "optimizer": opt_tensors},
                        {**meta, "param_groups": groups, "rng": rng_state(g)})
        desc = (f"A {cfg.n_layer}-layer GPT ({model.num_params() / 1e6:.1f}M parameters, "
                f"context {cfg.block_size}) with a {tok.kind} vocabulary of {tok.vocab_size} "
                f"tokens, trained with write.train on {names}.")
        if start_from:
            desc += f" It began with the weights of {start_from}."
        return write_model_folder(
            folder, fp16_state_dict(model), tok, cfg.to_dict(), title=p.model_id,
            licence=licence, training_data=training_data, command=meta["command"],
            quality=quality, description=desc)

    model.train()
    losses: list[float] = []
    started = time.perf_counter()
    while step < p.max_iters:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, p)
        x, y = get_batch(train_ids, cfg.block_size, p.batch_size, g)
        x, y = x.to(device), y.to(device)
        try:
            with _autocast(device):
                _, loss = forward(x, y)
        except Exception as exc:
            if forward is model:
                raise
            yield Log(f"torch.compile failed ({str(exc).splitlines()[0]}); training eagerly",
                      "warning")
            forward = model
            with _autocast(device):
                _, loss = forward(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        losses.append(loss.item())
        yield Progress(step / p.max_iters, f"step {step}/{p.max_iters} loss {losses[-1]:.3f}")
        last = step == p.max_iters
        if step % p.eval_interval == 0 or last:
            seconds += time.perf_counter() - started
            started = time.perf_counter()
            ev = evaluate(model, vals, p.batch_size, device, None if last else EVAL_WINDOWS)
            train_loss = sum(losses) / len(losses)
            losses.clear()
            text = sample(model, tok, seed + step)
            quality = {"val_loss": round(ev["val_loss"], 4),
                       "val_loss_per_char": round(ev["val_loss_per_char"], 4),
                       "steps": step, "train_seconds": round(seconds, 1),
                       "train_loss": round(train_loss, 4), "val_tokens": ev["val_tokens"],
                       "val_loss_per_char_by_file": ev["by_file"],
                       "tokens_seen": step * p.batch_size * cfg.block_size}
            save_all(step, quality)
            yield Log(f"step {step}: train loss {train_loss:.4f}, val loss {ev['val_loss']:.4f} "
                      f"per token, {ev['val_loss_per_char']:.4f} per character "
                      f"({seconds:.0f} s)")
            yield Preview({"step": step, "train_loss": train_loss, "val_loss": ev["val_loss"],
                           "val_loss_per_char": ev["val_loss_per_char"], "sample": text},
                          label=f"step {step}")
    if saved is not None and saved["step"] >= p.max_iters:
        yield Log(f"the checkpoint is already at step {saved['step']} (--max-iters "
                  f"{p.max_iters}); nothing to train", "warning")
    yield Progress(1.0, "done")
    yield Log(f"saved {p.model_id} in {folder}")


TRAIN = Task("write.train", "Train on your text", TrainParams, write_train,
             "Trains a GPT on text files (or wine reviews) and adds it to your models.",
             grad=True)
