"""Training methods: how a batch becomes a loss.

A method spec is ``"name"`` or ``"name:param"`` (``"erm"``, ``"mixup:8"``,
``"dropout:0.7"`` = ERM + dropout), or two of them joined by ``+`` to train
with both (``"mixup:8+dropout:0.5"``). Each registered function takes the
optional parameter and returns a ``Method``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from robustness.errors import SuiteError
from robustness.records import MethodFields
from robustness.registry import lookup, make_register

METHODS: dict[str, Callable[[float | None], "Method"]] = {}
register_method = make_register(METHODS, "training method")


@dataclass(frozen=True)
class Method:
    spec: str  # as written in the configuration, e.g. "mixup:8"
    family: str  # "erm", "mixup", ...: what reports group and colour by
    label: str  # identifier-safe, e.g. "mixup_a8"
    display: str  # for people, e.g. "mixup (α=8)"
    alpha: float = 0.0  # mixup's Beta(α, α); 0 means no mixing, i.e. ERM
    dropout: float = 0.0  # dropout probability inside the model

    def fields(self) -> MethodFields:
        """How records in results.json state the method; ``params`` name each setting as its method does."""
        params = {"mixup_alpha": self.alpha} if self.alpha else {}
        params |= {"dropout": self.dropout} if self.dropout else {}
        return MethodFields(method=self.spec, family=self.family, display=self.display, params=params)


def _number(value: float) -> str:
    return f"{value:g}"


@register_method("erm")
def erm(param: float | None) -> Method:
    """Empirical risk minimization: plain cross-entropy on the training labels."""
    if param is not None:
        raise SuiteError("training method 'erm' takes no parameter; write erm")
    return Method("erm", "erm", "erm", "ERM")


@register_method("mixup")
def mixup(param: float | None) -> Method:
    """mixup (Zhang et al., ICLR 2018) with Beta(α, α), α = param (default 1)."""
    alpha = 1.0 if param is None else param
    if alpha < 0:
        raise SuiteError(f"mixup α must be ≥ 0, not {alpha:g}; α = 1 is the paper's CIFAR-10 default")
    return Method(f"mixup:{_number(alpha)}", "mixup", f"mixup_a{_number(alpha)}", f"mixup (α={_number(alpha)})", alpha)


@register_method("dropout")
def dropout(param: float | None) -> Method:
    """ERM with dropout probability p = param (default 0.5) inside the model (see robustness.models)."""
    p = 0.5 if param is None else param
    if not 0.0 <= p < 1.0:
        raise SuiteError(f"dropout p must be in [0, 1), not {p:g}; the paper's grid is 0.5, 0.7, 0.8, 0.9")
    return Method(f"dropout:{_number(p)}", "dropout", f"dropout_p{_number(p)}", f"ERM + dropout (p={_number(p)})",
                  dropout=p)


def combine(first: Method, second: Method) -> Method:
    """Train with both methods, e.g. mixup:8 + dropout:0.5; each setting may come from one side only."""
    spec = f"{first.spec}+{second.spec}"
    families = (first.family, second.family)
    if (first.alpha and second.alpha) or (first.dropout and second.dropout) or "erm" in families or families[0] == families[1]:
        raise SuiteError(f"training method {spec!r} sets the same thing twice or adds erm; "
                         "join one mixup and one dropout, e.g. mixup:8+dropout:0.5")
    display = f"{first.display} + {second.display.removeprefix('ERM + ')}"
    family = "+".join(sorted(families, reverse=True))  # "mixup+dropout" whichever is written first
    return Method(spec, family, f"{first.label}_{second.label}", display,
                  alpha=first.alpha or second.alpha, dropout=first.dropout or second.dropout)


def model_id(method: Method, seed: int) -> str:
    """The name of one trained model, e.g. "mixup_a1_s0"."""
    return f"{method.label}_s{seed}"


def parse_method(spec: str) -> Method:
    """``"mixup:8"`` or ``"mixup:8+dropout:0.5"`` -> Method; unknown names and bad parameters give a one-line error."""
    parts = spec.split("+")
    if len(parts) == 2:
        return combine(parse_one(parts[0]), parse_one(parts[1]))
    if len(parts) > 2:
        raise SuiteError(f"training method {spec!r} joins more than two methods; write e.g. mixup:8+dropout:0.5")
    return parse_one(spec)


def parse_one(spec: str) -> Method:
    """One ``"name"`` or ``"name:param"``."""
    name, _, raw = spec.strip().partition(":")
    factory = lookup(METHODS, name.strip(), "training method")
    if not raw:
        return factory(None)
    try:
        param = float(raw)
    except ValueError:
        raise SuiteError(f"training method {spec!r} has a parameter that is not a number; write e.g. mixup:8") from None
    return factory(param)


def mix_batch(
    x: torch.Tensor, y: torch.Tensor, alpha: float, rng: np.random.Generator, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """The paper's code: one λ ~ Beta(α, α) per batch, partners by an in-batch permutation.

    Returns (mixed inputs, y, y[perm], λ). With α = 0 nothing is drawn and the
    batch comes back unchanged with λ = 1, so training equals ERM exactly.
    """
    if alpha <= 0:
        return x, y, y, 1.0
    lam = float(rng.beta(alpha, alpha))
    perm = torch.randperm(len(x), generator=gen).to(x.device)
    return lam * x + (1 - lam) * x[perm], y, y[perm], lam


def mixup_loss(logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: float) -> torch.Tensor:
    """λ·CE(out, y_a) + (1−λ)·CE(out, y_b): cross-entropy against the mixed one-hot target."""
    return lam * F.cross_entropy(logits, y_a) + (1 - lam) * F.cross_entropy(logits, y_b)
