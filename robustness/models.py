"""Architectures. Every model takes pixels in [0, 1] and normalizes inside its
own forward, so every ε is in pixel space and attacks treat all models alike.

A registered function ``build(input_shape, num_classes, dropout) -> nn.Module``
returns the body; ``build_model`` puts ``Normalize`` in front of it.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from robustness.registry import lookup, make_register

MODELS: dict[str, Callable[..., nn.Module]] = {}
register_model = make_register(MODELS, "model")


class Normalize(nn.Module):
    """(x - mean) / std per channel; buffers, so they move with the model and are saved with it."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@register_model("digits_cnn")
def digits_cnn(input_shape: Sequence[int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    """Two 3×3 convolutions, one 2×2 pool, one hidden layer: ~0.1 M weights for 8×8 digits.

    ``dropout`` sits after the hidden layer's ReLU, the small-net equivalent of
    the paper's one dropout per block between two convolutions.
    """
    channels, height, width = input_shape
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (height // 2) * (width // 2), 128),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(128, num_classes),
    )


@register_model("mlp")
def mlp(input_shape: Sequence[int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    """One hidden layer of 256 units: the smallest sensible baseline."""
    inputs = int(torch.tensor(input_shape).prod())
    return nn.Sequential(
        nn.Flatten(), nn.Linear(inputs, 256), nn.ReLU(), nn.Dropout(dropout), nn.Linear(256, num_classes)
    )


def build_model(
    arch: str,
    input_shape: Sequence[int],
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    dropout: float = 0.0,
) -> nn.Module:
    """A registered architecture behind input normalization: pixels in [0, 1] in, logits out."""
    body = lookup(MODELS, arch, "model")(input_shape, num_classes, dropout=dropout)
    return nn.Sequential(Normalize(mean, std), body)
