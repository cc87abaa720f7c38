"""The write plugin: the GPT and its cache, tokenizers, sampling, GPT-2 import, the generate and
train tasks through the executor, and the command line. Tiny models only, no network."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from studio import device as devices
from studio.execution import Execution, TaskFailed
from studio.models import ModelStore
from studio.tasks import Cancelled, Log, Output, Preview, Stream
from studio.testing import run_task
from studio_write import data, loading, sampling
from studio_write.gpt import GPT, GPTConfig
from studio_write.import_gpt2 import IMPORT_GPT2, CheckpointError, import_gpt2
from studio_write.sampling import Sampling, adjust, choose, draw, nucleus
from studio_write.tokenizer import END, StreamDecoder, train_bpe, train_words
from studio_write.train import TRAIN

CPU = devices.pick("cpu")
ROOT = Path(__file__).resolve().parent.parent


def corpus(n_sentences: int = 600, seed: int = 0) -> str:
    """A small made-up English text: enough structure for a tiny model to learn a little."""
    rng = random.Random(seed)
    nouns = ["fox", "crow", "lion", "mouse", "king", "sea", "wind", "tree", "stone", "wolf"]
    adjs = ["old", "quick", "proud", "small", "grey", "wise", "hungry", "gentle"]
    verbs = ["sees", "finds", "follows", "helps", "fears", "loves", "calls", "leaves"]
    lines = []
    for _ in range(n_sentences):
        s = (f"The {rng.choice(adjs)} {rng.choice(nouns)} {rng.choice(verbs)} "
             f"the {rng.choice(nouns)}{rng.choice(['.', '!', ', and sleeps.', '?'])}")
        lines.append(s)
    return "\n".join(" ".join(lines[i:i + 4]) for i in range(0, len(lines), 4)) + "\n"


TEXT = corpus()
TINY = dict(tokenizer="bpe", vocab_size=300, n_layer=2, n_head=2, n_embd=32, block_size=32,
            dropout=0.0, batch_size=8, lr=3e-3, warmup_iters=5, eval_interval=20)


def run(task, values: dict, store: ModelStore | None = None, seed: int = 0) -> list:
    """Run a task as Studio does (studio.testing); the events it yielded."""
    return run_task(task, values, models=store, seed=seed).events


def registry_task(task_id: str):
    import studio_write

    cap = studio_write.studio_capabilities()[0]
    return next(t for t in cap.tasks if t.id == task_id)


GENERATE = registry_task("write.generate")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A tiny model trained by write.train into a user store (and the events of that run)."""
    root = tmp_path_factory.mktemp("writedata")
    text = root / "fables.txt"
    text.write_text(TEXT, encoding="utf-8")
    store = ModelStore([root / "models"])
    values = {**TINY, "files": str(text), "model_id": "tiny", "max_iters": 150, "lr": 1e-2,
              "batch_size": 16}
    events = run(TRAIN, values, store, seed=1)
    return {"root": root, "text": text, "store": store, "events": events}


def generate(store: ModelStore, seed: int = 0, **values) -> tuple:
    """(streamed token chunks, echoed prompt, output text) of one write.generate run."""
    events = run(GENERATE, {"model": "tiny", **values}, store, seed)
    chunks = [e.text for e in events if isinstance(e, Stream) and not e.echo]
    echo = "".join(e.text for e in events if isinstance(e, Stream) and e.echo)
    outputs = [e.data for e in events if isinstance(e, Output)]
    return chunks, echo, outputs[0]


# ---------------------------------------------------------------------------------------------
# The model.


def test_cached_logits_equal_uncached():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=97, block_size=40, n_layer=3, n_head=4, n_embd=32)).eval()
    idx = torch.randint(97, (2, 30))
    with torch.no_grad():
        full, _ = model(idx)
        cache = model.new_cache(batch=2)
        parts = [model(idx[:, :7], cache=cache)[0]]  # a prompt at once
        parts += [model(idx[:, t:t + 1], cache=cache)[0] for t in range(7, 20)]  # one by one
        parts.append(model(idx[:, 20:30], cache=cache)[0])  # several after a cached prefix
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


def test_half_precision_stays_close_to_float32():
    """precision=half (float16 matrices, float32 activations): the prompt is read exactly as in
    float32 (the weights widened), one-token steps stay close and pick the same greedy tokens."""
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=300, block_size=64, n_layer=2, n_head=2, n_embd=64)
    state = {k: v.half() for k, v in GPT(cfg).state_dict().items() if k != loading.TIED}
    for p in state.values():  # trained-sized weights, so that the logits spread out
        p.mul_(4)
    half = loading.build(cfg.to_dict(), state, precision="half")
    full = loading.build(cfg.to_dict(), state, precision="float32")
    assert half.lm_head.weight is half.transformer.wte.weight  # still tied
    assert half.transformer.h[0].mlp.c_fc.weight.dtype == torch.float16
    assert half.transformer.ln_f.weight.dtype == torch.float32
    prompt = torch.randint(300, (1, 10), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        torch.testing.assert_close(half(prompt)[0], full(prompt)[0], atol=1e-5, rtol=1e-5)
        g = torch.Generator()
        ours = [s.token for s in sampling.generate(half, prompt[0].tolist(), 40, Sampling(0.0), g)]
        want = [s.token for s in sampling.generate(full, prompt[0].tolist(), 40, Sampling(0.0), g)]
        assert ours == want
        cache_h, cache_f = half.new_cache(), full.new_cache()
        half(prompt, cache=cache_h), full(prompt, cache=cache_f)
        for t in ours[:20]:
            lh = half(torch.tensor([[t]]), cache=cache_h)[0]
            lf = full(torch.tensor([[t]]), cache=cache_f)[0]
            assert float((lh - lf).abs().max()) < 0.03 * float(lf.std())  # std about 2


# ---------------------------------------------------------------------------------------------
# Tokenizers.

UNICODE = [
    "plain ASCII, with punctuation: (a) [b] {c}!",
    "emoji 😀 👩‍👩‍👧‍👦 🇫🇷 🧑🏽‍🚀 and ✨",
    "中文字符，日本語のひらがな、한국어 텍스트",
    "combining: e\u0301 a\u0308 n\u0303 \u0915\u093f \u05e9\u05c1\u05b8",
    "mixed\ttabs\r\nand  double  spaces \u00a0 nbsp \u200b zwsp",
    "Ω≈ç√∫ ¡™£¢∞§¶•ªº –— \U0001d54f \U0010fffd",
]


@pytest.fixture(scope="module")
def bpe():
    return train_bpe([TEXT], vocab_size=300)  # trained on ASCII only: the rest falls to bytes


@pytest.mark.parametrize("text", UNICODE)
def test_byte_level_bpe_round_trips_any_unicode(bpe, text):
    ids = bpe.encode(text)
    assert bpe.decode(ids) == text


def test_stream_decoder_never_emits_a_replacement_character(bpe):
    for text in UNICODE:
        ids = bpe.encode(text)
        assert len(ids) > len(text) // 2  # multi-byte characters arrive in several tokens
        for context in (None, bpe.encode("The fox ")):
            dec = StreamDecoder(bpe, context)
            chunks = [dec.push(i) for i in ids]
            assert not any("\ufffd" in c for c in chunks)
            assert "".join(chunks) == bpe.decode(ids)


def test_word_tokenizer_lower_cases_and_splits_punctuation():
    tok = train_words([TEXT, "Hello, World! It's fine."], vocab_size=200)
    pieces = tok.tok.encode("Hello, World!").tokens
    assert pieces == ["hello", ",", "world", "!"]
    assert tok.decode(tok.encode("The Fox sees the Crow.")) == "the fox sees the crow."
    assert tok.encode("zebra")[0] == tok.tok.token_to_id("<unk>")
    assert tok.encode(END) == [tok.end_id]


# ---------------------------------------------------------------------------------------------
# Sampling.


def test_temperature_zero_is_argmax():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        logits = torch.randn(50)
        assert choose(logits, Sampling(temperature=0.0), g).token == int(logits.argmax())


def test_temperature_is_p_to_the_one_over_t():
    logits = torch.randn(30)
    p = torch.softmax(logits, -1)
    for t in (0.5, 2.0):
        want = p ** (1 / t) / (p ** (1 / t)).sum()
        got = torch.softmax(adjust(logits, Sampling(temperature=t, top_p=1.0)), -1)
        torch.testing.assert_close(got, want)


def test_top_k_keeps_the_k_likeliest():
    logits = torch.randn(100)
    kept = torch.isfinite(adjust(logits, Sampling(temperature=1.0, top_k=7)))
    assert int(kept.sum()) == 7
    assert set(kept.nonzero().flatten().tolist()) == set(logits.topk(7).indices.tolist())


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.randn(100) * 2
    for top_p in (0.3, 0.8, 0.95):
        kept = torch.isfinite(adjust(logits, Sampling(temperature=1.0, top_p=top_p)))
        p = torch.softmax(logits, -1)
        mass = float(p[kept].sum())
        assert mass >= top_p
        assert mass - float(p[kept].min()) < top_p  # without its least likely token: short
        assert float(p[kept].min()) >= float(p[~kept].max())  # the likeliest ones


@pytest.mark.parametrize("scale", [0.5, 3.0, 8.0])
def test_nucleus_without_a_full_sort_keeps_what_a_sort_keeps(scale):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50257, generator=g) * scale  # flat (most tokens kept) to peaked
    sorted_p, order = torch.sort(torch.softmax(logits, -1), descending=True)
    for top_p in (0.0, 0.5, 0.9, 0.99):
        want = order[sorted_p.cumsum(0) - sorted_p < top_p].tolist() or [int(order[0])]
        assert set(nucleus(logits, top_p).tolist()) == set(want)


def test_draw_follows_the_probabilities_and_never_picks_a_dropped_token():
    probs = torch.tensor([0.0, 0.5, 0.0, 0.2, 0.3, 0.0]) * 3  # unnormalised is fine
    g = torch.Generator().manual_seed(0)
    counts = torch.bincount(torch.tensor([draw(probs, g) for _ in range(20000)]), minlength=6)
    assert counts[[0, 2, 5]].sum() == 0
    torch.testing.assert_close(counts / 20000, probs / probs.sum(), atol=0.015, rtol=0)


def test_repetition_penalty_lowers_seen_tokens():
    logits = torch.tensor([2.0, -2.0, 1.0, 0.5])
    out = adjust(logits, Sampling(temperature=1.0, repetition_penalty=2.0),
                 seen=torch.tensor([0, 1]))
    torch.testing.assert_close(out, torch.tensor([1.0, -4.0, 1.0, 0.5]))


# ---------------------------------------------------------------------------------------------
# Training data.


def test_gutenberg_header_and_footer_are_stripped(tmp_path):
    f = tmp_path / "book.txt"
    f.write_text("The Project Gutenberg EBook of Fables\nLicence words\n"
                 "*** START OF THIS PROJECT GUTENBERG EBOOK FABLES ***\n\n"
                 "THE FOX AND THE GRAPES\n\nA fox saw grapes.\n\n"
                 "End of the Project Gutenberg EBook of Fables\n\n"
                 "*** END OF THIS PROJECT GUTENBERG EBOOK FABLES ***\nMore licence\n",
                 encoding="utf-8")
    assert data.read_source(f).documents == ["THE FOX AND THE GRAPES\n\nA fox saw grapes.\n"]


def test_wine_csv_gives_one_document_per_review(tmp_path):
    f = tmp_path / "wine.csv"
    f.write_text("id,country,description,points,province,variety\n"
                 '0,Italy,"Aromas of fruit, broom and ""herb"".",87,Sicily & Sardinia,White Blend\n'
                 "1,Portugal,,85,Douro,Red\n"
                 "2,US,Tart and snappy.,87,Oregon,Pinot Gris\n", encoding="utf-8")
    docs = data.read_source(f).documents
    assert docs == [
        'wine review : Italy : Sicily & Sardinia : White Blend : Aromas of fruit, broom and '
        '"herb".',
        "wine review : US : Oregon : Pinot Gris : Tart and snappy.",
    ]
    train, val = data.split(data.read_source(f), 0.3)
    assert train == docs[0] + END and val == docs[1]


@pytest.mark.parametrize("name, content, message", [
    ("empty.txt", b"  \n\n", "no text"),
    ("binary.txt", b"ok\n\x81\x00", "not UTF-8 text: byte 0x81 at line 2, column 1"),
    ("utf16.txt", b"a\x00b\x00", "NUL byte"),
    ("table.csv", b"a,b\n1,2\n", "not a wine-review CSV"),
    ("image.png", b"\x89PNG", "unsupported file type"),
])
def test_unusable_text_gives_one_line(tmp_path, name, content, message):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        data.read_source(f)
    assert "\n" not in str(info.value)


def test_missing_training_file_is_named(tmp_path):
    with pytest.raises(TaskFailed, match="no such file: .*nope.txt"):
        run(TRAIN, {**TINY, "files": f"{tmp_path}/nope.txt", "model_id": "x"},
            ModelStore([tmp_path / "models"]))


# ---------------------------------------------------------------------------------------------
# write.train


def test_training_writes_a_loadable_model_with_its_card(trained):
    card = trained["store"].get("tiny")
    assert card.capability == "write" and card.architecture == "gpt"
    assert {f.name for f in card.files} == {"model.safetensors", "tokenizer.json"}
    assert trained["store"].verify("tiny") == []
    q = card.quality
    assert q["steps"] == 150 and q["train_seconds"] > 0
    assert 0 < q["val_loss_per_char"] < q["val_loss"] < math.log(card.config["vocab_size"])
    assert "fables.txt" in card.training_data and "--max-iters 150" in card.command
    _, weights = trained["store"].load("tiny")
    assert all(t.dtype == torch.float16 for t in weights.values())
    assert "lm_head.weight" not in weights
    loading.build(card.config, weights)  # every key and shape fits
    previews = [e.data for e in trained["events"] if isinstance(e, Preview)]
    assert [p["step"] for p in previews] == [20, 40, 60, 80, 100, 120, 140, 150]
    assert previews[-1]["val_loss"] < previews[0]["val_loss"]
    assert all(isinstance(p["sample"], str) for p in previews)
    state = json.loads((card.folder / "train_state" / "state.json").read_text())
    assert state["step"] == 150 and not list((card.folder / "train_state").glob("*.pt*"))


def test_resume_continues_from_the_saved_step(trained):
    store = trained["store"]
    events = run(TRAIN, {**TINY, "files": str(trained["text"]), "model_id": "tiny",
                         "max_iters": 160, "eval_interval": 5, "resume": True}, store, seed=9)
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any("resuming tiny at step 150" in m for m in logs)
    assert [e.data["step"] for e in events if isinstance(e, Preview)] == [155, 160]
    assert store.get("tiny").quality["steps"] == 160


def test_cancel_keeps_the_checkpoint_and_resume_matches_an_uninterrupted_run(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(TEXT, encoding="utf-8")
    store = ModelStore([tmp_path / "models"])
    values = {**TINY, "files": str(text), "max_iters": 20, "eval_interval": 10, "dropout": 0.1}
    run(TRAIN, {**values, "model_id": "whole"}, store, seed=5)

    previews = []
    with pytest.raises(Cancelled):  # stopped at the first evaluation (step 10)
        Execution(TRAIN, TRAIN.make_params({**values, "model_id": "parts"}), CPU, seed=5,
                  models=store).run(
            lambda e, s: previews.append(e) if isinstance(e, Preview) else None,
            lambda: bool(previews))
    state = tmp_path / "models" / "parts" / "train_state" / "state.json"
    assert json.loads(state.read_text())["step"] == 10
    run(TRAIN, {**values, "model_id": "parts", "resume": True}, store, seed=77)

    def final(name: str) -> dict:
        from safetensors.torch import load_file

        folder = tmp_path / "models" / name / "train_state"
        return load_file(str(next(folder.glob("model-*.safetensors"))))

    whole, parts = final("whole"), final("parts")
    assert whole.keys() == parts.keys()
    for k in whole:
        assert torch.equal(whole[k], parts[k]), k


def test_start_from_fine_tunes_another_models_weights_and_tokenizer(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(corpus(200, seed=3), encoding="utf-8")
    store = ModelStore([tmp_path / "models"])
    values = {**TINY, "files": str(text), "max_iters": 2, "eval_interval": 2}
    run(TRAIN, {**values, "model_id": "base"}, store, seed=1)
    base_card, base = store.load("base")
    # size and tokenizer flags unlike the base's: the base model's shape and vocabulary are used
    events = run(TRAIN, {**values, "model_id": "ft", "start_from": "base", "lr": 0.0,
                         "tokenizer": "word", "n_layer": 3}, store, seed=2)
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any("starting from the weights and tokenizer of base" in m for m in logs)
    assert any("--tokenizer word" in m and "--n-layer 3" in m and "not used" in m
               for m in logs)
    card = store.get("ft")
    assert card.config == base_card.config
    assert ((card.folder / "tokenizer.json").read_bytes()
            == (base_card.folder / "tokenizer.json").read_bytes())
    _, tuned = store.load("ft")
    assert tuned.keys() == base.keys()
    for k in base:  # lr 0: the base model's weights
        assert torch.equal(tuned[k], base[k]), k
    assert "--start-from base" in card.command and "--n-layer" not in card.command
    assert "began with the weights of base" in card.description
    assert "it began with base, whose licence applies too" in card.licence

    events = run(TRAIN, {**values, "model_id": "ft", "max_iters": 3, "resume": True,
                         "start_from": "other"}, store, seed=2)
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any("--start-from other is not used" in m for m in logs)
    assert not any("shape and vocabulary" in m for m in logs)  # no size flag was set apart
    assert "--start-from base" in store.get("ft").command  # a resumed run still says so

    with pytest.raises(TaskFailed, match="nothing"):
        run(TRAIN, {**values, "model_id": "x", "start_from": "nothing"}, store)


# ---------------------------------------------------------------------------------------------
# write.generate through the executor.


def test_generate_streams_the_prompt_and_its_continuation(trained):
    chunks, echo, output = generate(trained["store"], prompt="The old fox", max_tokens=12)
    assert echo == "The old fox"
    assert len(chunks) >= 1 and output == "The old fox" + "".join(chunks)


def test_an_empty_prompt_works(trained):
    chunks, echo, output = generate(trained["store"], prompt="", max_tokens=10, seed=3)
    assert echo == "" and output == "".join(chunks)


def test_a_one_megabyte_prompt_slides_the_window(trained):
    prompt = (TEXT * (1_000_000 // len(TEXT) + 1))[:1_000_000]
    chunks, _, output = generate(trained["store"], prompt=prompt, max_tokens=50)  # > context
    assert len(chunks) >= 1 and output == prompt + "".join(chunks)


@pytest.mark.parametrize("precision", ["auto", "half"])  # auto: float32 for so small a model
def test_same_seed_same_text_other_seed_other_text(trained, precision):
    store = trained["store"]
    kw = dict(prompt="The", max_tokens=30, temperature=1.5, top_p=0.9, precision=precision)
    a = generate(store, seed=1, **kw)[2]
    b = generate(store, seed=1, **kw)[2]
    c = generate(store, seed=2, **kw)[2]
    assert a == b and a != c


def test_temperature_zero_is_deterministic_whatever_the_seed(trained):
    store = trained["store"]
    a = generate(store, seed=1, prompt="The wise", max_tokens=20, temperature=0.0)[2]
    b = generate(store, seed=2, prompt="The wise", max_tokens=20, temperature=0.0)[2]
    assert a == b


def test_a_stop_string_ends_the_text(trained):
    store = trained["store"]
    prompt = "The quick"
    full = generate(store, prompt=prompt, max_tokens=40, temperature=0.0)[2]
    cont = full[len(prompt):]
    at = next(i for i in range(1, len(cont) - 1) if cont[i:i + 2].isascii()
              and cont[i:i + 2].isalpha())
    stop = cont[at:at + 2]
    stopped = generate(store, prompt=prompt, max_tokens=40, temperature=0.0, stop=stop)[2]
    assert stopped == prompt + cont[:cont.find(stop)]


def test_cancel_after_the_third_token_stops(trained):
    tokens = []

    def on_event(e, saved):
        if isinstance(e, Stream) and not e.echo:
            tokens.append(e.text)

    ex = Execution(GENERATE, GENERATE.make_params({"model": "tiny", "max_tokens": 100}), CPU,
                   seed=0, models=trained["store"])
    with pytest.raises(Cancelled):
        ex.run(on_event, lambda: len(tokens) >= 3)
    assert len(tokens) == 3


def test_cli_streams_generated_text(trained, tmp_path):
    env = {**os.environ, "STUDIO_DATA_DIR": str(trained["root"])}
    proc = subprocess.run(
        [sys.executable, "-m", "studio.cli", "run", "write.generate", "--prompt", "The grey wolf",
         "--max-tokens", "20", "--seed", "1", "--model", "tiny", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("The grey wolf") and len(proc.stdout) > len("The grey wolf")
    [saved] = [Path(line.removeprefix("saved to ")) for line in proc.stderr.splitlines()
               if line.startswith("saved to ")]
    assert saved.is_file() and proc.stdout.startswith(saved.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Importing a Hugging Face GPT-2 folder.

HF = dict(n_layer=2, n_head=4, n_embd=32, n_positions=48)


def hf_checkpoint(folder: Path, prefix: str = "transformer.", fmt: str = "safetensors",
                  head: bool = False) -> dict[str, torch.Tensor]:
    """A tiny GPT-2 in the Hugging Face layout: Conv1D [in, out] weights, mask buffers, a
    config.json, and vocab.json + merges.txt of a BPE trained here. Returns the raw tensors."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = train_bpe([TEXT], vocab_size=320)
    tok.tok.model.save(str(folder))  # vocab.json + merges.txt
    V, C, P, L = tok.vocab_size, HF["n_embd"], HF["n_positions"], HF["n_layer"]
    g = torch.Generator().manual_seed(0)

    def r(*shape: int, std: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * std

    sd = {"wte.weight": r(V, C), "wpe.weight": r(P, C), "ln_f.weight": 1 + r(C),
          "ln_f.bias": r(C)}
    for i in range(L):
        h = f"h.{i}."
        sd.update({
            h + "ln_1.weight": 1 + r(C), h + "ln_1.bias": r(C),
            h + "attn.c_attn.weight": r(C, 3 * C), h + "attn.c_attn.bias": r(3 * C),
            h + "attn.c_proj.weight": r(C, C), h + "attn.c_proj.bias": r(C),
            h + "ln_2.weight": 1 + r(C), h + "ln_2.bias": r(C),
            h + "mlp.c_fc.weight": r(C, 4 * C), h + "mlp.c_fc.bias": r(4 * C),
            h + "mlp.c_proj.weight": r(4 * C, C), h + "mlp.c_proj.bias": r(C),
            h + "attn.bias": torch.tril(torch.ones(P, P)).view(1, 1, P, P),
            h + "attn.masked_bias": torch.tensor(-1e4),
        })
    saved = {prefix + k: v for k, v in sd.items()}
    if head:
        saved["lm_head.weight"] = sd["wte.weight"].clone()
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(saved, str(folder / "model.safetensors"))
    else:
        torch.save(saved, folder / "pytorch_model.bin")
    config = {"model_type": "gpt2", "vocab_size": V, "activation_function": "gelu_new",
              "layer_norm_epsilon": 1e-5, **HF}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return sd


def reference_gpt2(sd: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    """GPT-2's forward pass written directly on the Hugging Face tensors (Conv1D: x @ W + b)."""
    C, H = HF["n_embd"], HF["n_head"]
    T, hd = len(ids), C // HF["n_head"]

    def norm(x, name):
        mu, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * sd[name + ".weight"] + sd[name + ".bias"]

    def gelu(x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    x = sd["wte.weight"][ids] + sd["wpe.weight"][:T]
    for i in range(HF["n_layer"]):
        h = f"h.{i}."
        qkv = norm(x, h + "ln_1") @ sd[h + "attn.c_attn.weight"] + sd[h + "attn.c_attn.bias"]
        q, k, v = (t.view(T, H, hd).transpose(0, 1) for t in qkv.split(C, dim=-1))
        att = q @ k.transpose(-1, -2) / math.sqrt(hd)
        att = att.masked_fill(sd[h + "attn.bias"][0, :, :T, :T] == 0, float("-inf"))
        y = (att.softmax(-1) @ v).transpose(0, 1).reshape(T, C)
        x = x + y @ sd[h + "attn.c_proj.weight"] + sd[h + "attn.c_proj.bias"]
        m = gelu(norm(x, h + "ln_2") @ sd[h + "mlp.c_fc.weight"] + sd[h + "mlp.c_fc.bias"])
        x = x + m @ sd[h + "mlp.c_proj.weight"] + sd[h + "mlp.c_proj.bias"]
    return norm(x, "ln_f") @ sd["wte.weight"].T


@pytest.mark.parametrize("prefix, fmt, head", [("transformer.", "safetensors", False),
                                               ("", "bin", True)])
def test_a_gpt2_checkpoint_imports_and_computes_gpt2(tmp_path, prefix, fmt, head):
    src = tmp_path / "hf"
    sd = hf_checkpoint(src, prefix, fmt, head)
    store = ModelStore([tmp_path / "models"])
    events = run(IMPORT_GPT2, {"folder": str(src), "model_id": "hf-tiny"}, store)
    assert any(isinstance(e, Log) and "imported" in e.message for e in events)
    card, weights = store.load("hf-tiny")
    assert card.config["block_size"] == HF["n_positions"] and card.architecture == "gpt"
    assert all(t.dtype == torch.float16 for t in weights.values())
    model = loading.build(card.config, weights)

    sd16 = {k: v.half().float() for k, v in sd.items()}  # the stored weights are fp16
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(card.config["vocab_size"], (40,), generator=g)
    with torch.no_grad():
        ours = model(ids[None])[0][0]
    torch.testing.assert_close(ours, reference_gpt2(sd16, ids), atol=2e-4, rtol=2e-4)
    from studio_write.tokenizer import TextTokenizer

    original = TextTokenizer.load(src)
    imported = TextTokenizer.load(card.folder / "tokenizer.json")
    assert imported.encode(UNICODE[1] + TEXT[:200]) == original.encode(UNICODE[1] + TEXT[:200])
    assert F.softmax(ours, -1).shape == (40, card.config["vocab_size"])


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    from safetensors.torch import load_file, save_file

    src = tmp_path / "hf"
    hf_checkpoint(src)
    state = load_file(str(src / "model.safetensors"))
    del state["transformer.h.1.mlp.c_fc.bias"]
    state["transformer.h.0.attn.rotary.weight"] = torch.zeros(3)
    save_file(state, str(src / "model.safetensors"))
    with pytest.raises(CheckpointError) as info:
        import_gpt2(src, "broken", tmp_path / "models")
    msg = str(info.value)
    assert "missing 1 key(s): transformer.h.1.mlp.c_fc.bias" in msg
    assert "unexpected 1 key(s): transformer.h.0.attn.rotary.weight" in msg
    assert not (tmp_path / "models" / "broken" / "card.json").exists()
    with pytest.raises(TaskFailed, match="missing 1 key"):
        run(IMPORT_GPT2, {"folder": str(src), "model_id": "broken"},
            ModelStore([tmp_path / "models"]))
