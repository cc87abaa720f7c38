"""``write.generate``: continue a text, streaming token by token with the odds of each step."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from studio.tasks import Context, Event, Log, Output, Progress, Stream, param

DEFAULT_MODEL = "write.classics"
TOP_N = 10


@dataclass
class GenerateParams:
    prompt: str = param("", help="the text to continue (empty: start from nothing; '-': read "
                                 "it from standard input)", multiline=True)
    prompt_file: Path | None = param(None, help="read the prompt from this text file instead "
                                                "(any size; UTF-8, or UTF-16 with its mark)",
                                     filter="Text (*.txt *.md)", advanced=True)
    model: str = param(DEFAULT_MODEL, help="model id (see `studio models list`)")
    max_tokens: int = param(200, min=1, max=8192, help="how many tokens to add")
    temperature: float = param(0.8, min=0.0, max=5.0, help="0 = always the likeliest token")
    top_k: int = param(0, min=0, max=1_000_000, help="keep only the k likeliest (0 = off)")
    top_p: float = param(0.95, min=0.0, max=1.0, help="keep the likeliest up to this mass")
    repetition_penalty: float = param(1.0, min=0.5, max=5.0, help="above 1 discourages repeats")
    stop: str = param("", help="stop at any of these strings; separate several with |")
    precision: str = param("auto", choices=("auto", "half", "float32"),
                           help="half: float16 weights (a large model runs about 1.8x faster on "
                                "the CPU); float32; auto: half unless the model is small")


def _stops(spec: str) -> list[str]:
    return [s.encode().decode("unicode_escape") for s in spec.split("|") if s]


class StopWatcher:
    """Holds back text that might be the start of a stop string, and says where one ended it."""

    def __init__(self, stops: list[str]):
        self.stops, self.held, self.hit = stops, "", False

    def feed(self, chunk: str) -> str:
        text = self.held + chunk
        cut = min((i for s in self.stops if (i := text.find(s)) >= 0), default=-1)
        if cut >= 0:
            self.hit, self.held = True, ""
            return text[:cut]
        keep = max((n for s in self.stops for n in range(1, len(s)) if text.endswith(s[:n])),
                   default=0)
        self.held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        out, self.held = self.held, ""
        return out


def write_generate(p: GenerateParams, ctx: Context) -> Iterator[Event]:
    # imported here: loading the plugin (and opening the window) must not wait for torch
    from studio_write import loading
    from studio_write.sampling import Sampling, generate
    from studio_write.text_input import STDIN, prompt_text
    from studio_write.tokenizer import StreamDecoder

    prompt = prompt_text(p.prompt, p.prompt_file)  # before the model: bad text costs nothing
    if p.prompt == STDIN:  # the recipe keeps the text read, so that "Again" can replay it
        p.prompt = prompt
    model, tok, card = loading.load(ctx, p.model, p.precision)
    block = model.config.block_size
    tail = prompt[-block * 16:]  # a 1 MB prompt: only its end can fit the context anyway
    ids = tok.encode(tail) if tail else []
    if len(tail) < len(prompt):
        yield Log(f"the prompt is longer than the context; using its last {block} tokens")
    prompt_ids = ids or [tok.end_id]
    yield Stream(prompt, echo=True)
    sampling = Sampling(p.temperature, p.top_k, p.top_p, p.repetition_penalty)
    decoder = StreamDecoder(tok, prompt_ids)
    watcher = StopWatcher(_stops(p.stop))
    out: list[str] = []
    steps = generate(model, prompt_ids, p.max_tokens, sampling, ctx.torch_generator(), TOP_N)
    for i, step in enumerate(steps):
        if step.token == tok.end_id:
            break
        chunk = watcher.feed(decoder.push(step.token))
        odds = {"token": tok.token_text(step.token), "p": step.prob,
                "top": [(tok.token_text(t), pr) for t, pr in step.top]}
        out.append(chunk)
        yield Stream(chunk, data=odds)
        yield Progress((i + 1) / p.max_tokens, f"{i + 1} tokens")
        if watcher.hit:
            break
    rest = watcher.flush()
    if rest:
        out.append(rest)
        yield Stream(rest)
    yield Output(prompt + "".join(out), name="text")
