"""A GPT in one file: pre-LN transformer blocks, learned positions, tied input/output embeddings,
``scaled_dot_product_attention``, and a key/value cache for generation.

Parameter names and shapes follow the GPT-2 / nanoGPT layout (``transformer.wte.weight``,
``transformer.h.{i}.attn.c_attn.weight`` [3C, C], ...), so GPT-2 checkpoints map onto it with a
transpose of their Conv1D weights (see ``import_gpt2.py``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to the context
    length so that each new token writes in place instead of growing a tensor."""

    def __init__(self, cfg: GPTConfig, batch: int, device: torch.device | str, dtype: torch.dtype):
        hd = cfg.n_embd // cfg.n_head
        shape = (cfg.n_layer, 2, batch, cfg.n_head, cfg.block_size, hd)
        self.kv = torch.zeros(shape, device=device, dtype=dtype)
        self.keys, self.values = self.kv[:, 0].unbind(0), self.kv[:, 1].unbind(0)  # views per layer
        self.length = 0

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Store this step's k, v (B, nh, T, hd) for ``layer``; return all keys and values."""
        t0, t1 = self.length, self.length + k.size(2)
        keys, values = self.keys[layer], self.values[layer]
        keys[:, :, t0:t1] = k
        values[:, :, t0:t1] = v
        return keys[:, :, :t1], values[:, :, :t1]


class Linear(nn.Linear):
    """``nn.Linear`` whose weight may be stored narrower than its input (float16 weights for
    generation on the CPU, see ``GPT.half_matrices``). The input and output keep their dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weight, self.bias
        if w.dtype == x.dtype:
            return F.linear(x, w, b)
        if x.numel() == x.size(-1):  # one row (a generated token): read the narrow weight as is
            return F.linear(x.to(w.dtype), w, b).to(x.dtype)
        # several rows (a prompt): the CPU's float16 kernel is a slow matrix-matrix product, so
        # widen the weight for this call instead
        return F.linear(x, w.to(x.dtype), None if b is None else b.to(x.dtype))


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.c_attn = Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            past = cache.length
            k, v = cache.append(layer, k, v)
            if past == 0:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            elif T == 1:  # one new token sees every cached one
                y = F.scaled_dot_product_attention(q, k, v)
            else:  # several new tokens after a cached prefix
                mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x, cache: KVCache | None = None, layer: int = 0):
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
            wpe=nn.Embedding(cfg.block_size, cfg.n_embd),
            drop=nn.Dropout(cfg.dropout),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)]),
            ln_f=nn.LayerNorm(cfg.n_embd, bias=cfg.bias),
        ))
        self.lm_head = Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # scaled init of the residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                cache: KVCache | None = None, last_only: bool = False):
        """Logits for ``idx`` (B, T). With ``targets`` also the mean cross-entropy loss. With a
        ``cache``, ``idx`` holds only the new tokens; their positions follow the cached ones."""
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"{start + T} tokens exceed the context of {self.config.block_size}")
        pos = torch.arange(start, start + T, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for i, block in enumerate(self.transformer.h):
            x = block(x, cache, i)
        if cache is not None:
            cache.length += T
        x = self.transformer.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, -1:, :] if last_only else x), None
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def column_major(self) -> GPT:
        """Lay every matrix out in-by-out in memory (same shapes, same keys). For float32
        inference on the CPU: a one-token product then streams its weight about 1.7x faster
        (measured: the 50257x768 head, 8.6 ms -> 4.9 ms), and generation is bound by reading the
        weights."""
        for p in self.parameters():
            if p.dim() == 2:
                p.data = p.data.t().contiguous().t()
        return self

    def half_matrices(self, dtype: torch.dtype = torch.float16) -> GPT:
        """Store the weight matrices (every Linear, and the token embedding that the head shares)
        in ``dtype``; positions, layer norms, activations and the cache stay float32. For
        generation on the CPU, which is bound by reading the weights: half the bytes per token.
        float16 is the precision the models are stored in (bfloat16 would round them further),
        and its one-row product is the faster one (bfloat16's goes through oneDNN: measured
        1.7x slower for one token on an AVX512-BF16 CPU)."""
        for module in self.modules():
            if isinstance(module, nn.Linear) or module is self.transformer.wte:
                module.to(dtype)  # in place: the tied head stays the embedding
        return self

    def new_cache(self, batch: int = 1) -> KVCache:
        p = self.transformer.wpe.weight  # the activations' dtype
        return KVCache(self.config, batch, p.device, p.dtype)
