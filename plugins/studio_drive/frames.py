"""What the world model sees of a CarRacing frame: the official preprocessing.

The 96x96 observation is cropped to rows 0..84 (the dashboard at the bottom is dropped) and
resized to 64x64 with OpenCV's area filter (every source pixel counts, so thin kerbs and the
car do not flicker as they would with nearest-neighbour sampling). Frames are kept as uint8
(H, W, 3) until the network needs them; ``to_tensor`` turns a batch into floats in [0, 1] laid
out (N, 3, 64, 64) in channels-last memory, which is what the convolutions want on the CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch

SIZE = 64  # the VAE's input is SIZE x SIZE x 3
CROP_ROWS = 84  # rows 0..84 of the 96x96 observation: the dashboard lies below


def to_input(obs: np.ndarray) -> np.ndarray:
    """One observation (96, 96, 3) uint8, or a batch (N, 96, 96, 3), as the VAE's input:
    uint8 (64, 64, 3), or (N, 64, 64, 3)."""
    obs = np.asarray(obs)
    if obs.ndim == 4:
        out = np.empty((len(obs), SIZE, SIZE, 3), np.uint8)
        for i, frame in enumerate(obs):
            out[i] = to_input(frame)
        return out
    if obs.ndim != 3 or obs.shape[2] != 3 or obs.shape[0] < CROP_ROWS:
        raise ValueError(f"expected a CarRacing frame (96, 96, 3), got {obs.shape}")
    crop = np.ascontiguousarray(obs[:CROP_ROWS], dtype=np.uint8)
    return cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def to_tensor(frames: np.ndarray | torch.Tensor, device: str | torch.device = "cpu"
              ) -> torch.Tensor:
    """uint8 frames (N, 64, 64, 3) (or one (64, 64, 3)) -> float32 (N, 3, 64, 64) in [0, 1],
    channels-last in memory (a permuted view of the pixels as they lie)."""
    import torch

    x = torch.as_tensor(frames)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (N, 64, 64, 3), got {tuple(x.shape)}")
    x = x.to(device, non_blocking=True).permute(0, 3, 1, 2)
    return x.float().div_(255.0).contiguous(memory_format=torch.channels_last)


def to_image(x: torch.Tensor) -> np.ndarray:
    """The inverse: floats (N, 3, H, W) or (3, H, W) in [0, 1] -> uint8 (N, H, W, 3) or
    (H, W, 3)."""
    import torch

    with torch.no_grad():
        img = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return img.movedim(-3, -1).cpu().numpy()


def strip(*rows: np.ndarray, gap: int = 2) -> np.ndarray:
    """Rows of frames (each (N, H, W, 3) uint8) tiled into one image, a row of frames per row,
    with a white ``gap`` between frames: e.g. inputs above their reconstructions."""
    n = max(len(r) for r in rows)
    h, w = rows[0].shape[1:3]
    out = np.full((len(rows) * (h + gap) - gap, n * (w + gap) - gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            out[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = frame
    return out
