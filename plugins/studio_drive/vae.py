"""V: the World Models convolutional VAE (Ha and Schmidhuber 2018, appendix A.1).

Encoder: four 4x4 convolutions of stride 2 (32, 64, 128, 256 channels, ReLU) take a 64x64x3
frame in [0, 1] to 2x2x256; two linear layers read the flattened 1024 values as the mean and
log-variance of a diagonal Gaussian over z. Decoder: a linear layer lifts z to a 1x1x1024 map;
four transposed convolutions of stride 2 (kernels 5, 5, 6, 6; 128, 64, 32, 3 channels, ReLU and
a final sigmoid) grow it to 5, 13, 30 and 64 pixels. At z = 32 that is 4,348,547 parameters,
the paper's count.

The training loss (``loss``) is the paper's: the squared error summed over the pixels, plus
the KL divergence from N(0, I) held at no less than ``kl_tolerance * z_size`` nats ("free
bits"), so the code is not squeezed below what the frames need.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

ENCODER = (32, 64, 128, 256)  # channels of the four stride-2 convolutions (kernel 4)
DECODER = ((128, 5), (64, 5), (32, 6), (3, 6))  # (channels, kernel) of the four deconvolutions
FLAT = 2 * 2 * 256  # the encoder's output, flattened; also the width the decoder starts from


class VAE(nn.Module):
    def __init__(self, z_size: int = 32):
        super().__init__()
        self.z_size = z_size
        convs, c_in = [], 3
        for c in ENCODER:
            convs.append(nn.Conv2d(c_in, c, 4, stride=2))
            c_in = c
        self.encoder = nn.ModuleList(convs)
        self.mu = nn.Linear(FLAT, z_size)
        self.logvar = nn.Linear(FLAT, z_size)
        self.lift = nn.Linear(z_size, FLAT)
        deconvs, c_in = [], FLAT
        for c, k in DECODER:
            deconvs.append(nn.ConvTranspose2d(c_in, c, k, stride=2))
            c_in = c
        self.decoder = nn.ModuleList(deconvs)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames (B, 3, 64, 64) in [0, 1] -> the mean and log-variance of z, each (B, z)."""
        h = x
        for conv in self.encoder:
            h = F.relu(conv(h))
        h = h.flatten(1)  # channels-last or not, reshape gives the (C, H, W) order
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, z) -> frames (B, 3, 64, 64) in [0, 1]."""
        first = self.decoder[0]
        # the first deconvolution reads a 1x1 map: it is a matrix product, which the CPU runs
        # far faster than a transposed convolution (whose backward pass in bf16 crawls there)
        h = F.linear(self.lift(z), first.weight.flatten(1).t())
        h = F.relu(h.view(-1, *first.weight.shape[1:]) + first.bias.view(-1, 1, 1))
        h = h.contiguous(memory_format=torch.channels_last)
        for i, deconv in enumerate(self.decoder[1:], 1):
            h = deconv(h)
            h = torch.sigmoid(h) if i == len(self.decoder) - 1 else F.relu(h)
        return h

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu + sigma * eps (the reparameterisation: gradients flow to mu and logvar)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + (0.5 * logvar).exp() * eps

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction, mu, logvar) of frames (B, 3, 64, 64) in [0, 1], through a z drawn
        from the posterior."""
        mu, logvar = self.encode(x)
        return self.decode(self.sample(mu, logvar, generator)), mu, logvar


def loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
         kl_tolerance: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, reconstruction, KL), each a batch mean in float32: the squared error summed
    over a frame's pixels, and the KL divergence from N(0, I) floored at ``kl_tolerance`` nats
    per dimension of z (its reported value is the unfloored one)."""
    recon_loss = (recon.float() - x.float()).pow(2).flatten(1).sum(1).mean()
    mu, logvar = mu.float(), logvar.float()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    floor = kl_tolerance * mu.shape[1]
    return recon_loss + kl.clamp(min=floor), recon_loss, kl


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
