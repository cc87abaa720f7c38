"""V, M and C at the wheel of one episode (``Mind``): what the agent sees, does and expects,
kept for the drive panel's panes."""

from __future__ import annotations

from typing import Any

import numpy as np


class Mind:
    """The agent's parts for one episode, keeping what the panel shows: ``z`` (V's mean of the
    frame it sees), ``state`` (M's (h, c) before it reads that z) and M's prediction."""

    def __init__(self, vae: Any, mdnrnn: Any, controller: Any | None, bf16: bool):
        import torch

        self.vae, self.mdnrnn, self.controller = vae, mdnrnn, controller
        self.device = next(vae.parameters()).device
        self.bf16 = bf16
        self.torch = torch
        self.z: Any = None
        self.state: Any = None
        self.out: Any = None  # M's prediction after reading z and the action

    def reset(self) -> None:
        self.state = self.mdnrnn.initial_state(1, self.device)
        self.z, self.out = None, None

    def _autocast(self) -> Any:
        return self.torch.autocast(self.device.type, self.torch.bfloat16, enabled=self.bf16)

    def see(self, frame64: np.ndarray) -> Any:
        """V's mean of the 64x64 frame: z (1, z_size)."""
        from studio_drive.frames import to_tensor

        with self._autocast():
            self.z = self.vae.encode(to_tensor(frame64, self.device))[0].float()
        return self.z

    @property
    def h(self) -> Any:
        return self.state[0][-1]

    def act(self, z: Any = None, h: Any = None) -> np.ndarray:
        """C's action on [z, h] (its own by default): (steer, gas, brake); none without C."""
        if self.controller is None:
            return np.zeros(3, np.float32)
        a = self.controller.act(self.z if z is None else z, self.h if h is None else h)
        return a[0].float().cpu().numpy()

    def predict(self, action: np.ndarray) -> None:
        """M reads z and the action taken; its prediction is kept, its state not yet."""
        a = self.torch.as_tensor(np.asarray(action, np.float32), device=self.device)[None]
        self.out = self.mdnrnn.step(self.z, a, self.state)

    def advance(self) -> None:
        """The step is taken: M's state moves on."""
        self.state = self.out.state

    def decode(self, z: Any) -> np.ndarray:
        """V's decoding of latents (n, z_size): uint8 (n, 64, 64, 3). In float32: for a frame
        or two bf16 gains nothing here (its casts cost more than its products save)."""
        from studio_drive.frames import to_image

        z = self.torch.as_tensor(np.asarray(z, np.float32) if not self.torch.is_tensor(z)
                                 else z).float().to(self.device)
        return to_image(self.vae.decode(z.view(-1, self.vae.z_size)))

    def pictures(self) -> tuple[np.ndarray, np.ndarray]:
        """V's reconstruction of the frame and M's likeliest next frame, decoded together."""
        predicted = self.mdnrnn.sample_next(self.out, 0.0)
        both = self.decode(self.torch.cat([self.z, predicted]))
        return both[0], both[1]
