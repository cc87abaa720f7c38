"""How much of a picture is the grid-locked grain a generator's upsampling paints: the power
of its brightness at the periods a twice-upsampling decoder leaves (2 and 4 pixels, across,
down and diagonally), each against the median power of the frequencies around it. A photo
scores a few (its edges and JPEG blocks have some power there); the checkerboard of
transposed convolutions scores tens."""

from __future__ import annotations

import numpy as np

SIDE = 256  # the square the spectrum is taken of (the picture's centre)
RING = 3  # the neighbourhood: frequencies 2 or 3 steps away
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def grid_frequencies(n: int) -> list[tuple[int, int]]:
    """The eight frequencies of periods 2 and 4 (beside the zero frequency) on an n x n
    spectrum."""
    half, quarter = n // 2, n // 4
    return [(half, half), (half, 0), (0, half), (quarter, quarter), (quarter, 0),
            (0, quarter), (half, quarter), (quarter, half)]


def grid_grain(image: np.ndarray) -> float:
    """The mean over ``grid_frequencies`` of each one's power divided by the median power of
    its neighbourhood, for the brightness of an (H, W, 3) uint8 picture's central square (at
    most SIDE; at least 16 px a side)."""
    h, w = image.shape[:2]
    n = min(SIDE, h, w) // 4 * 4
    if n < 16:
        raise ValueError(f"a {w}x{h} picture is too small to measure its grain (16 px at least)")
    top, left = (h - n) // 2, (w - n) // 2
    y = image[top:top + n, left:left + n].astype(np.float32) @ LUMA
    power = np.abs(np.fft.fft2(y - y.mean())) ** 2
    ratios = []
    for fy, fx in grid_frequencies(n):
        ring = [power[(fy + dy) % n, (fx + dx) % n]
                for dy in range(-RING, RING + 1) for dx in range(-RING, RING + 1)
                if max(abs(dy), abs(dx)) >= 2]
        ratios.append(power[fy, fx] / max(float(np.median(ring)), 1e-12))
    return float(np.mean(ratios))
