"""Generation speed of the write GPT on the CPU against the memory-bandwidth bound, for a GPT-2
124M-shaped model (random weights) and for the shipped starter model, in the same run.

For each model and thread count (1: the window leaves a core to the GUI; all: the command line),
side by side, medians over ``--rounds`` interleaved rounds (tokens/s):

- ``half``: ``precision=half`` (float16 weight matrices; float32 activations and cache), cached;
- ``fp32``: ``precision=float32`` (float32, column-major): the old path, the baseline;
- ``new``: what ``precision=auto`` (the default) picks for this model: half when its float32
  weights would not fit in a CPU cache, else float32 (see ``loading.cpu_precision``);
- ``uncached``: nanoGPT's full recompute of the context for every token (``generate_uncached``,
  auto's precision). It counts the prompt; the cached ones count the steps after it.

Greedy decoding, so that sampling costs nearly nothing; the sampling step is timed apart
(``choose`` at the app's defaults, temperature 0.8 and top-p 0.95, against the old full sort +
``torch.multinomial``, on the model's logits for a random prompt; ``nucleus``: tokens top-p keeps).

The bound: one cached step reads every weight once plus the cached keys and values, so tokens/s
cannot exceed bandwidth / bytes read per token. Bandwidth is that of a large ``dst.copy_(src)``
(bytes read + bytes written) at the same thread count; ``bound16`` counts the bytes of the half
path, ``bound32`` those of the float32 path. ``new/bound`` divides ``new`` by the bound of its own
precision, ``old/bound`` ``fp32`` by ``bound32``: the goal is 1 / 1.5 = 0.67 or more. ``read`` is
the bandwidth of a plain ``sum`` over a large tensor, all a matrix-vector product could reach.
``greedy`` and ``dlogit``: greedy tokens half generates before its first one unlike float32's, and
the largest logit difference of half from float32 over the same steps.

    python benchmarks/write.py [--rounds 5] [--prompt 32] [--tokens 48] [--threads 1,2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from studio_write import loading
from studio_write.gpt import GPT, GPTConfig
from studio_write.sampling import Sampling, choose, generate, generate_uncached, nucleus

GREEDY = Sampling(temperature=0.0)
DEFAULTS = Sampling(temperature=0.8, top_p=0.95)  # the app's


def copy_bandwidth(megabytes: int) -> float:
    """Bytes per second moved by ``dst.copy_(src)``, counting the read and the write."""
    src = torch.rand(megabytes * 2**20 // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)  # touch every page first
    t = time.perf_counter()
    dst.copy_(src)
    return 2 * src.numel() * 4 / (time.perf_counter() - t)


def read_bandwidth(megabytes: int) -> float:
    """Bytes per second read by ``sum`` over a tensor far larger than the caches."""
    src = torch.rand(megabytes * 2**20 // 4)
    src.sum()
    t = time.perf_counter()
    src.sum()
    return src.numel() * 4 / (time.perf_counter() - t)


def cached_rate(model: GPT, prompt: list[int], n: int) -> float:
    """Tokens per second of cached greedy generation, after the prompt (steps 2..n)."""
    steps = generate(model, prompt, n, GREEDY, torch.Generator().manual_seed(0))
    next(steps)  # reads the prompt, yields the first token
    t = time.perf_counter()
    count = sum(1 for _ in steps)
    return count / (time.perf_counter() - t)


def uncached_rate(model: GPT, prompt: list[int], n: int) -> float:
    g = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    count = sum(1 for _ in generate_uncached(model, prompt, n, GREEDY, g))
    return count / (time.perf_counter() - t)


def old_choose(logits: torch.Tensor, s: Sampling, g: torch.Generator) -> int:
    """The sampling step before: top-p by a full sort, the draw by ``torch.multinomial``."""
    logits = logits.float() / s.temperature
    sorted_logits, order = torch.sort(logits, descending=True)
    p = torch.softmax(sorted_logits, dim=-1)
    logits[order[p.cumsum(-1) - p >= s.top_p]] = float("-inf")
    probs = torch.softmax(logits, dim=-1)
    torch.topk(probs, 10)
    return int(torch.multinomial(probs, 1, generator=g))


def choose_ms(logits: torch.Tensor, fn: Callable[..., Any], runs: int = 20) -> float:
    """Median milliseconds of one sampling step at the app's defaults on ``logits``."""
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(logits, DEFAULTS, g)
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def agreement(half: GPT, full: GPT, prompt: list[int], n: int) -> dict[str, Any]:
    """How close the half model stays to float32: the largest logit difference over ``n``
    cached steps fed the float32 model's greedy tokens, and how many greedy tokens the half
    model generates before its first different one (of ``n``)."""
    want = [s.token for s in generate(full, prompt, n, GREEDY, torch.Generator())]
    ours = [s.token for s in generate(half, prompt, n, GREEDY, torch.Generator())]
    same = next((i for i, (a, b) in enumerate(zip(ours, want, strict=True)) if a != b), n)
    cache_h, cache_f = half.new_cache(), full.new_cache()
    idx = torch.tensor([prompt])
    diff, spread = 0.0, 0.0
    for t in want:
        lh = half(idx, cache=cache_h, last_only=True)[0]
        lf = full(idx, cache=cache_f, last_only=True)[0]
        diff = max(diff, float((lh - lf).abs().max()))
        spread = max(spread, float(lf.max() - lf.min()))
        idx = torch.tensor([[t]])
    return {"greedy_same": f"{same}/{n}", "max_abs_logit_diff": round(diff, 4),
            "logit_range": round(spread, 1)}


def bytes_per_token(model: GPT, context: int) -> int:
    """Bytes read by one cached step: every parameter once (the tied head is the embedding),
    one row of the positions, and the keys and values of ``context`` earlier tokens."""
    cfg = model.config
    wpe = model.transformer.wpe.weight
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    params -= wpe.numel() * wpe.element_size() - cfg.n_embd * wpe.element_size()
    kv = 2 * cfg.n_layer * context * cfg.n_embd * wpe.element_size()  # the cache: activations'
    return params + kv


def variants(model_fp32: GPT) -> dict[str, GPT]:
    """The new (half) and old (float32 column-major) CPU models from the same float32 weights."""
    state = {k: v for k, v in model_fp32.state_dict().items() if k != loading.TIED}
    cfg = model_fp32.config.to_dict()
    return {"half": loading.build(cfg, state, "cpu", "half"),
            "fp32": loading.build(cfg, state, "cpu", "float32")}


def measure(name: str, model_fp32: GPT, args: argparse.Namespace) -> list[dict[str, Any]]:
    models = variants(model_fp32)
    auto = loading.cpu_precision(model_fp32)
    new = models["half" if auto == "half" else "fp32"]
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(model_fp32.config.vocab_size, (args.prompt,), generator=g).tolist()
    context = args.prompt + args.tokens // 2
    read16 = bytes_per_token(models["half"], context)
    read32 = bytes_per_token(models["fp32"], context)
    logits = new(torch.tensor([prompt]), last_only=True)[0][0, -1]
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for m in models.values():
            cached_rate(m, prompt, 4)  # warm up
        runs: dict[str, list[float]] = {}
        for _ in range(args.rounds):  # interleaved, so that load from elsewhere hits all alike
            runs.setdefault("copy", []).append(copy_bandwidth(args.copy_mb))
            runs.setdefault("read", []).append(read_bandwidth(args.copy_mb))
            runs.setdefault("half", []).append(cached_rate(models["half"], prompt, args.tokens))
            runs.setdefault("fp32", []).append(cached_rate(models["fp32"], prompt, args.tokens))
            runs.setdefault("uncached", []).append(uncached_rate(new, prompt, args.uncached_tokens))
        med = {k: statistics.median(v) for k, v in runs.items()}
        rate = med["half" if auto == "half" else "fp32"]
        bound16, bound32 = med["copy"] / read16, med["copy"] / read32
        rows.append({
            "model": name,
            "threads": threads,
            "auto": auto,
            "new_tok_s": round(rate, 1),
            "half_tok_s": round(med["half"], 1),
            "fp32_tok_s": round(med["fp32"], 1),
            "uncached_tok_s": round(med["uncached"], 2),
            "bound16_tok_s": round(bound16, 1),
            "bound32_tok_s": round(bound32, 1),
            "new_over_bound": round(rate / (bound16 if auto == "half" else bound32), 3),
            "half_over_bound16": round(med["half"] / bound16, 3),
            "fp32_over_bound32": round(med["fp32"] / bound32, 3),
            "MB_per_token_half": round(read16 / 1e6, 1),
            "MB_per_token_fp32": round(read32 / 1e6, 1),
            "copy_GB_s": round(med["copy"] / 1e9, 1),
            "read_GB_s": round(med["read"] / 1e9, 1),
            "choose_ms": round(choose_ms(logits, choose), 3),
            "old_choose_ms": round(choose_ms(logits, old_choose), 3),
            "nucleus": len(nucleus(logits / DEFAULTS.temperature, DEFAULTS.top_p)),
            **agreement(models["half"], models["fp32"], prompt, args.tokens),
            "all_tok_s": {k: [round(x, 1) for x in v] for k, v in runs.items()
                          if k not in ("copy", "read")},
        })
    return rows


def starter(model_id: str) -> GPT | None:
    """The starter model in float32 (its stored float16 weights, widened)."""
    from studio.models import ModelStore

    try:
        card, weights = ModelStore().load(model_id)
    except Exception as exc:
        print(f"starter model {model_id} not measured: {exc}", file=sys.stderr)
        return None
    return loading.build(card.config, weights, "cpu", "float32")


COLUMNS = [("model", "model", 15), ("thr", "threads", 3), ("auto", "auto", 7),
           ("new", "new_tok_s", 7), ("half", "half_tok_s", 7), ("fp32", "fp32_tok_s", 7),
           ("uncached", "uncached_tok_s", 8), ("bound16", "bound16_tok_s", 7),
           ("bound32", "bound32_tok_s", 7), ("new/bound", "new_over_bound", 9),
           ("old/bound", "fp32_over_bound32", 9), ("copy", "copy_GB_s", 5),
           ("read", "read_GB_s", 5), ("choose", "choose_ms", 6), ("old", "old_choose_ms", 6),
           ("nucleus", "nucleus", 7), ("greedy", "greedy_same", 6),
           ("dlogit", "max_abs_logit_diff", 6)]


def table(rows: list[dict[str, Any]]) -> str:
    lines = [" ".join(f"{title:>{w}}" for title, _, w in COLUMNS)]
    lines += [" ".join(f"{r[key]!s:>{w}}" for _, key, w in COLUMNS) for r in rows]
    lines.append("tok/s; copy, read: GB/s; choose, old: ms per sampling step (the columns: --help)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians)")
    ap.add_argument("--prompt", type=int, default=32, help="prompt tokens")
    ap.add_argument("--tokens", type=int, default=48, help="tokens generated per cached run")
    ap.add_argument("--uncached-tokens", type=int, default=8,
                    help="tokens generated per uncached run")
    ap.add_argument("--threads", default=f"1,{os.cpu_count()}",
                    help="comma-separated thread counts to measure")
    ap.add_argument("--models", default="gpt2,starter", help="gpt2, starter or both")
    ap.add_argument("--starter", default="write.classics")
    ap.add_argument("--copy-mb", type=int, default=512)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    args.threads = sorted({int(t) for t in args.threads.split(",")})

    torch.manual_seed(0)
    rows = []
    with torch.inference_mode():
        if "gpt2" in args.models:
            rows += measure("gpt2-124M", GPT(GPTConfig()).eval(), args)
        model = starter(args.starter) if "starter" in args.models else None
        if model is not None:
            rows += measure(args.starter, model, args)
    info = {"device": "cpu", "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2), "prompt_tokens": args.prompt,
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
            "generated_tokens": args.tokens, "rounds": args.rounds}
    if args.json:
        print(json.dumps({**info, "results": rows}, indent=2))
    else:
        print(json.dumps(info))
        print(table(rows))


if __name__ == "__main__":
    main()
