"""C: the World Models controller, one linear map of [z_t, h_t] to the three actions
(Ha and Schmidhuber 2018): (32 + 256) x 3 weights and 3 biases, 867 parameters, few enough for
CMA-ES to search directly. Its raw outputs are squashed as the paper's CarRacing code does:
steer = tanh, gas = (tanh + 1) / 2, brake = clip(tanh, 0, 1).

CMA-ES sees the parameters as one flat vector (``to_flat`` / ``from_flat``: the weight matrix
row by row, then the bias); a drive model stores them as ``controller.weight`` (3, z + hidden)
and ``controller.bias`` (3,).
"""

from __future__ import annotations

import numpy as np
import torch

ACTIONS = 3  # steer, gas, brake
PREFIX = "controller."


class Controller:
    """A batched linear policy; plain tensors, no autograd (CMA-ES needs none)."""

    def __init__(self, z_size: int = 32, hidden: int = 256, device: str | torch.device = "cpu"):
        self.z_size, self.hidden = z_size, hidden
        self.weight = torch.zeros(ACTIONS, z_size + hidden, device=device)
        self.bias = torch.zeros(ACTIONS, device=device)

    @property
    def n_params(self) -> int:
        return self.weight.numel() + self.bias.numel()

    @classmethod
    def from_flat(cls, vector: np.ndarray | torch.Tensor, z_size: int = 32, hidden: int = 256,
                  device: str | torch.device = "cpu") -> Controller:
        c = cls(z_size, hidden, device)
        v = torch.as_tensor(np.asarray(vector, dtype=np.float32)).to(device)
        if v.shape != (c.n_params,):
            raise ValueError(f"a controller for z {z_size} and hidden {hidden} takes "
                             f"{c.n_params} parameters, got a vector of shape {tuple(v.shape)}")
        n = c.weight.numel()
        c.weight = v[:n].view(ACTIONS, z_size + hidden).clone()
        c.bias = v[n:].clone()
        return c

    def to_flat(self) -> np.ndarray:
        return torch.cat([self.weight.flatten(), self.bias]).float().cpu().numpy()

    def raw(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The linear outputs before squashing, (B, 3)."""
        x = torch.cat([z, h], -1).to(self.weight.dtype)
        return torch.nn.functional.linear(x, self.weight, self.bias)

    def act(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """z (B, z) and h (B, hidden) -> actions (B, 3): steer in [-1, 1], gas and brake in
        [0, 1]."""
        t = torch.tanh(self.raw(z, h))
        return torch.stack([t[..., 0], (t[..., 1] + 1) / 2, t[..., 2].clamp(0, 1)], -1)

    def as_tensors(self) -> dict[str, torch.Tensor]:
        return {PREFIX + "weight": self.weight, PREFIX + "bias": self.bias}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], z_size: int = 32,
                     device: str | torch.device = "cpu") -> Controller:
        """From ``controller.weight`` (3, z + hidden) and ``controller.bias`` (3,); the hidden
        size is the weight's width less ``z_size``."""
        w, b = tensors[PREFIX + "weight"], tensors[PREFIX + "bias"]
        if w.dim() != 2 or w.shape[0] != ACTIONS or w.shape[1] <= z_size or \
                tuple(b.shape) != (ACTIONS,):
            raise ValueError(f"controller weights of shapes {tuple(w.shape)} and "
                             f"{tuple(b.shape)}, not (3, {z_size} + hidden) and (3,)")
        c = cls(z_size, w.shape[1] - z_size, device)
        c.weight, c.bias = w.float().to(device).clone(), b.float().to(device).clone()
        return c

    def to(self, device: str | torch.device) -> Controller:
        self.weight, self.bias = self.weight.to(device), self.bias.to(device)
        return self
