"""The noise-model registry and ``corrupt``, which applies one and measures what it did."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from robustness.errors import SuiteError
from robustness.registry import lookup, make_register

# name -> fn(labels: np.ndarray, param: str, num_classes: int, rng) -> (noisy labels, replaced mask)
NOISE_MODELS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {}
register_noise = make_register(NOISE_MODELS, "noise model")


@dataclass(frozen=True)
class NoisyLabels:
    spec: str  # e.g. "uniform:0.5"
    seed: int
    labels: torch.Tensor  # the labels to train on, int64
    replaced: torch.Tensor  # bool: this example's label was replaced (possibly by the true class)
    realized_rate: float  # share of labels that are actually wrong (label != true label)
    replaced_share: float  # share of labels that were replaced
    confusion: list[list[int]]  # confusion[true][noisy], counts

    def summary(self) -> dict:
        return {
            "spec": self.spec,
            "seed": self.seed,
            "realized_rate": self.realized_rate,
            "replaced_share": self.replaced_share,
            "confusion": self.confusion,
        }


def corrupt(labels: torch.Tensor, spec: str, num_classes: int, seed: int) -> NoisyLabels:
    """Apply the noise model ``spec`` ("name:param") to a copy of ``labels``; test labels never pass here."""
    name, _, param = spec.partition(":")
    model = lookup(NOISE_MODELS, name, "noise model")
    true = labels.detach().cpu().numpy().astype(np.int64)
    rng = np.random.default_rng(seed)
    noisy, replaced = model(true.copy(), param, num_classes, rng)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (true, noisy), 1)
    return NoisyLabels(
        spec=spec,
        seed=seed,
        labels=torch.as_tensor(noisy, dtype=torch.int64),
        replaced=torch.as_tensor(replaced, dtype=torch.bool),
        realized_rate=float((noisy != true).mean()),
        replaced_share=float(replaced.mean()),
        confusion=confusion.tolist(),
    )


def parse_probability(param: str, name: str) -> float:
    try:
        p = float(param)
    except ValueError:
        raise SuiteError(f"noise {name}:{param} needs a probability, e.g. {name}:0.2") from None
    if not 0.0 <= p <= 1.0:
        raise SuiteError(f"noise {name}:{param} has p outside [0, 1]; write 0.2 for 20%")
    return p
