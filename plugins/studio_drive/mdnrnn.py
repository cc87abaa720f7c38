"""M: the World Models MDN-RNN (Ha and Schmidhuber 2018, appendix A.2), with reward and done
heads so that it can stand in for the game (``dream.py``).

An LSTM (256 units) reads [z_t, a_t] and, from its hidden state h_t, a linear layer gives for
each of the 32 dimensions of z_{t+1} a mixture of 5 Gaussians: log-weights, means and
log-deviations, 3 x 5 x 32 = 480 outputs, the paper's layout (each dimension its own mixture,
so the published count holds: 422,368 parameters, plus 1,024 for the second bias vector that
PyTorch's LSTM keeps). Two more linear layers read h_t as the reward r_t that a_t earns and the
logit of the episode ending there (d_t).

Shapes: sequences are (B, T, .), a single step (B, .); mixture tensors end in (z, gaussians).
``sample_next`` draws z_{t+1} at temperature tau as the paper does: the weights' logits divided
by tau, the deviations multiplied by sqrt(tau).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)

State = tuple[torch.Tensor, torch.Tensor]  # the LSTM's (h, c), each (1, B, hidden)


class MDNOutput(NamedTuple):
    logpi: torch.Tensor  # (..., z, gaussians), log-softmax over the gaussians
    mu: torch.Tensor  # (..., z, gaussians)
    logsigma: torch.Tensor  # (..., z, gaussians)
    reward: torch.Tensor  # (...)
    done_logit: torch.Tensor  # (...)
    state: State  # the LSTM's (h, c) after the last step

    @property
    def h(self) -> torch.Tensor:
        """The hidden state after the last step, (B, hidden): what the controller reads."""
        return self.state[0][-1]


class Losses(NamedTuple):
    total: torch.Tensor
    nll: torch.Tensor  # the mixture's negative log-likelihood of z_{t+1}, nats per dimension
    reward: torch.Tensor  # mean squared error of the reward
    done: torch.Tensor  # binary cross-entropy of the end of the episode


class MDNRNN(nn.Module):
    def __init__(self, z_size: int = 32, actions: int = 3, hidden: int = 256,
                 gaussians: int = 5):
        super().__init__()
        self.z_size, self.actions, self.hidden, self.gaussians = z_size, actions, hidden, gaussians
        self.lstm = nn.LSTM(z_size + actions, hidden, batch_first=True)
        self.mdn = nn.Linear(hidden, 3 * gaussians * z_size)
        self.reward = nn.Linear(hidden, 1)
        self.done = nn.Linear(hidden, 1)
        nn.init.constant_(self.done.bias, -5.0)  # episodes end rarely: start near "not done"

    def initial_state(self, batch: int, device: str | torch.device = "cpu") -> State:
        zeros = torch.zeros(1, batch, self.hidden, device=device)
        return zeros, zeros.clone()

    def heads(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """LSTM outputs (..., hidden) -> (logpi, mu, logsigma, reward, done_logit)."""
        out = self.mdn(h).unflatten(-1, (self.z_size, 3, self.gaussians))
        logpi, mu, logsigma = out.unbind(-2)
        return (F.log_softmax(logpi, -1), mu, logsigma, self.reward(h).squeeze(-1),
                self.done(h).squeeze(-1))

    def forward(self, z: torch.Tensor, a: torch.Tensor, state: State | None = None
                ) -> MDNOutput:
        """Sequences z (B, T, z) and a (B, T, actions) -> the prediction after each step."""
        out, (h, c) = self.lstm(torch.cat([z, a.to(z.dtype)], -1), state)
        return MDNOutput(*self.heads(out), state=(h, c))

    def step(self, z: torch.Tensor, a: torch.Tensor, state: State | None = None) -> MDNOutput:
        """One step for a batch: z (B, z), a (B, actions) -> the prediction, shapes (B, ...)."""
        out = self(z.unsqueeze(1), a.unsqueeze(1), state)
        return MDNOutput(*(t.squeeze(1) for t in out[:5]), state=out.state)

    @staticmethod
    def sample_next(out: MDNOutput, tau: float = 1.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """z_{t+1} (..., z) drawn from the mixture at temperature ``tau`` (0: the mean of each
        dimension's likeliest Gaussian)."""
        if tau <= 0:
            pick = out.logpi.argmax(-1, keepdim=True)
            return out.mu.gather(-1, pick).squeeze(-1)
        probs = F.softmax(out.logpi / tau, -1)
        flat = probs.reshape(-1, probs.shape[-1])
        pick = torch.multinomial(flat, 1, generator=generator).view(*probs.shape[:-1], 1)
        mu = out.mu.gather(-1, pick).squeeze(-1)
        sigma = out.logsigma.gather(-1, pick).squeeze(-1).exp()
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + sigma * math.sqrt(tau) * eps

    @staticmethod
    def loss(out: MDNOutput, z_next: torch.Tensor, reward: torch.Tensor, done: torch.Tensor,
             mask: torch.Tensor | None = None, next_mask: torch.Tensor | None = None,
             reward_weight: float = 1.0, done_weight: float = 1.0) -> Losses:
        """The mixture's NLL of ``z_next`` (B, T, z) plus the reward's squared error and the
        done flag's cross-entropy, averaged over the steps where ``mask`` (B, T) holds (all by
        default); the NLL only where ``next_mask`` holds too (the step has a next frame)."""
        z_next = z_next.float().unsqueeze(-1)
        logpi, mu, logsigma = out.logpi.float(), out.mu.float(), out.logsigma.float()
        log_n = -0.5 * ((z_next - mu) * torch.exp(-logsigma)).pow(2) - logsigma - LOG_SQRT_2PI
        nll = -torch.logsumexp(logpi + log_n, -1).mean(-1)  # (B, T): per dimension of z
        r_err = (out.reward.float() - reward.float()).pow(2)
        d_err = F.binary_cross_entropy_with_logits(out.done_logit.float(), done.float(),
                                                   reduction="none")
        keep = torch.ones_like(nll) if mask is None else mask.float()
        keep_next = keep if next_mask is None else keep * next_mask.float()
        nll = (nll * keep_next).sum() / keep_next.sum().clamp(min=1)
        r_err = (r_err * keep).sum() / keep.sum().clamp(min=1)
        d_err = (d_err * keep).sum() / keep.sum().clamp(min=1)
        return Losses(nll + reward_weight * r_err + done_weight * d_err, nll, r_err, d_err)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
