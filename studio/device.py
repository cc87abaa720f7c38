"""Which device computes: CUDA, then MPS, then the CPU, or what the user chose.

torch is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CHOICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "cpu" | "cuda" | "mps"
    name: str  # "NVIDIA H100 80GB HBM3", "Apple M2", "2 threads"
    threads: int = 0

    @property
    def torch_device(self) -> str:
        return self.kind

    @property
    def label(self) -> str:
        """What the status bar says, e.g. "CUDA: NVIDIA H100" or "CPU: 2 threads"."""
        if self.kind == "cpu":
            return f"CPU: {self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{self.kind.upper()}: {self.name}"


class DeviceError(RuntimeError):
    pass


def use_bf16(precision: str, device: str) -> bool:
    """Whether to run products in bfloat16: as ``precision`` says ("bf16" or "fp32"), or with
    "auto" where the device computes bf16 natively (CUDA GPUs that support it, CPUs with AMX or
    AVX512-BF16)."""
    if precision != "auto":
        return precision == "bf16"
    import torch

    device = str(device)
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return device == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def compute_threads(interactive: bool) -> int:
    """Threads for torch on the CPU. In the window one core is left to the GUI thread so it
    can draw while a model computes; on the command line every core computes."""
    n = cpu_count()
    return max(1, n - 1) if interactive else n


def pick(preference: str = "auto", interactive: bool = False) -> DeviceInfo:
    """The device to compute on. ``preference`` is one of CHOICES; asking for a device that is
    not there raises DeviceError with a one-line reason."""
    preference = (preference or "auto").lower()
    if preference not in CHOICES:
        raise DeviceError(f"unknown device {preference!r} (choose from {', '.join(CHOICES)})")
    import torch

    threads = compute_threads(interactive)
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        return DeviceInfo("cuda", torch.cuda.get_device_name(0), threads)
    if preference == "cuda":
        raise DeviceError("CUDA was asked for, but torch sees no CUDA device (this torch build: "
                          f"{torch.__version__})")
    mps = getattr(torch.backends, "mps", None)
    if preference in ("auto", "mps") and mps is not None and mps.is_available():
        return DeviceInfo("mps", "Apple GPU", threads)
    if preference == "mps":
        raise DeviceError("MPS was asked for, but this machine has no Apple GPU")
    return DeviceInfo("cpu", f"{threads} threads", threads)


def configure(info: DeviceInfo) -> None:
    """Apply the thread count to torch (call on the thread that computes)."""
    import torch

    if info.threads and torch.get_num_threads() != info.threads:
        torch.set_num_threads(info.threads)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a CUDA (or MPS) out-of-memory error, whatever torch version raised it."""
    name = type(exc).__name__
    return name == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def free_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
