"""Generation speed of the write GPT: tokens per second with the key/value cache and with
nanoGPT's full recompute of the context for every token (``generate_uncached``), for a GPT-2
124M-shaped model (random weights, fp32) and for the shipped starter model, in the same run.

Next to them, the memory-bandwidth bound: generating one token with the cache reads every weight
once (and the cached keys and values), so tokens/s cannot exceed copy bandwidth / bytes read per
token. The bandwidth is measured here by timing a large ``dst.copy_(src)`` (bytes read + bytes
written). Prints JSON; ``cached_over_bound`` says how close the cached loop comes to the bound.

    python benchmarks/write.py [--runs 3] [--prompt 32] [--tokens 48] [--starter write.classics]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import torch

from studio_write import loading
from studio_write.gpt import GPT, GPTConfig
from studio_write.sampling import Sampling, generate, generate_uncached


def copy_bandwidth(megabytes: int = 512, runs: int = 5) -> float:
    """Bytes per second moved by ``dst.copy_(src)``, counting the read and the write."""
    n = megabytes * 2**20 // 4
    src, dst = torch.rand(n), torch.empty(n)
    dst.copy_(src)  # touch every page first
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        dst.copy_(src)
        times.append(time.perf_counter() - t)
    return 2 * n * 4 / statistics.median(times)


def tokens_per_second(model: GPT, prompt: list[int], n: int, cached: bool, runs: int) -> float:
    """Median over ``runs`` of generated tokens / seconds (greedy, prompt read included)."""
    loop = generate if cached else generate_uncached
    rates = []
    for _ in range(runs):
        g = torch.Generator().manual_seed(0)
        t = time.perf_counter()
        count = sum(1 for _ in loop(model, prompt, n, Sampling(temperature=0.0), g))
        rates.append(count / (time.perf_counter() - t))
    return statistics.median(rates)


def bytes_per_token(model: GPT, context: int) -> int:
    """Weights read for one cached step (each parameter once; the tied head is the embedding)
    plus the keys and values of ``context`` earlier tokens."""
    cfg = model.config
    itemsize = model.transformer.wte.weight.element_size()
    weights = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    kv = 2 * cfg.n_layer * context * cfg.n_embd
    return (weights + cfg.n_embd + kv) * itemsize  # + one position row


def measure(name: str, model: GPT, args: argparse.Namespace, bandwidth: float) -> dict[str, Any]:
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(model.config.vocab_size, (args.prompt,), generator=g).tolist()
    tokens_per_second(model, prompt, 4, True, 1)  # warm up
    cached = tokens_per_second(model, prompt, args.tokens, True, args.runs)
    uncached = tokens_per_second(model, prompt, args.tokens, False, args.runs)
    read = bytes_per_token(model, args.prompt + args.tokens // 2)
    bound = bandwidth / read
    return {
        "model": name,
        "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "config": model.config.to_dict(),
        "cached_tok_s": round(cached, 2),
        "uncached_tok_s": round(uncached, 2),
        "cache_speedup": round(cached / uncached, 2),
        "bytes_per_token_MB": round(read / 1e6, 1),
        "bound_tok_s": round(bound, 2),
        "cached_over_bound": round(cached / bound, 3),
    }


def starter(model_id: str) -> GPT | None:
    from studio.models import ModelStore

    store = ModelStore()
    try:
        card, weights = store.load(model_id)
    except Exception as exc:
        print(f"starter model {model_id} not measured: {exc}", file=sys.stderr)
        return None
    return loading.build(card.config, weights)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prompt", type=int, default=32, help="prompt tokens")
    ap.add_argument("--tokens", type=int, default=48, help="tokens generated per run")
    ap.add_argument("--starter", default="write.classics")
    ap.add_argument("--copy-mb", type=int, default=512)
    args = ap.parse_args()

    torch.manual_seed(0)
    with torch.inference_mode():
        bandwidth = copy_bandwidth(args.copy_mb)
        gpt2 = GPT(GPTConfig()).eval()
        results = [measure("gpt2-124M (random weights), row-major nn.Linear layout", gpt2, args,
                           bandwidth),
                   measure("gpt2-124M (random weights), column-major as loaded for the CPU",
                           gpt2.column_major(), args, bandwidth)]
        model = starter(args.starter)
        if model is not None:
            results.append(measure(args.starter, model, args, bandwidth))
    print(json.dumps({
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "dtype": "float32",
        "load_average_1m": round(os.getloadavg()[0], 2),
        "copy_bandwidth_GB_s": round(bandwidth / 1e9, 2),
        "prompt_tokens": args.prompt,
        "generated_tokens": args.tokens,
        "runs": args.runs,
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
