"""Training loop: data on the device as tensors, shuffled by index slices.

``fit`` trains one model for one (architecture, method, labels, seed) and
records per-epoch errors. Randomness comes from three seeded streams (weights
and dropout; shuffling; mixup's λ and partners), so a seed fixes the result on
the CPU and mixup with α = 0 reproduces ERM exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from robustness.config import TrainConfig
from robustness.data import Split
from robustness.methods import Method, mix_batch, mixup_loss
from robustness.models import build_model

EVAL_BATCH = 1024  # images per forward pass when only predicting


@dataclass
class TrainedModel:
    model: nn.Module
    history: list[dict] = field(default_factory=list)  # one dict of errors per epoch
    seconds: float = 0.0


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Predicted labels of ``model`` (in eval mode) for images ``x``, on x's device."""
    was_training = model.training
    model.eval()
    labels = torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return labels


def error_rate(pred: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> float | None:
    """Share of wrong predictions, over ``mask`` if given (None when the mask is empty)."""
    wrong = pred != labels
    if mask is not None:
        if not bool(mask.any()):
            return None
        wrong = wrong[mask]
    return int(wrong.sum()) / len(wrong)  # counted, so 7/540 prints as 7/540 does


def epoch_errors(
    model: nn.Module, train_x, true_y, noisy_y, test_x, test_y, replaced: torch.Tensor | None
) -> dict:
    """Test error, and training error on the real labels and on the labels trained on."""
    train_pred, test_pred = predict(model, train_x), predict(model, test_x)
    errors = {
        "test_error": error_rate(test_pred, test_y),
        "train_error_real": error_rate(train_pred, true_y),
        "train_error_noisy": error_rate(train_pred, noisy_y),
    }
    if replaced is not None:
        # The paper's column: over the examples whose label was replaced, against the replaced label.
        errors["train_error_corrupted"] = error_rate(train_pred, noisy_y, replaced)
        errors["train_error_uncorrupted"] = error_rate(train_pred, true_y, ~replaced)
    return errors


def fit(
    arch: str,
    method: Method,
    split: Split,
    seed: int,
    config: TrainConfig,
    device: torch.device,
    labels: torch.Tensor | None = None,
    replaced: torch.Tensor | None = None,
    epochs: int | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainedModel:
    """Train one model; ``labels`` replaces the training labels (e.g. noisy ones).

    ``replaced`` marks the training examples whose label was replaced, for the
    per-epoch error on corrupted labels.
    """
    epochs = epochs or config.epochs
    start = time.perf_counter()
    train_x, true_y = split.train_x.to(device), split.train_y.to(device)
    noisy_y = true_y if labels is None else labels.to(device)
    test_x, test_y = split.test_x.to(device), split.test_y.to(device)
    replaced = None if replaced is None else replaced.to(device)
    cpu_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # weights and dropout
    try:
        model = build_model(arch, split.input_shape, split.num_classes, split.mean, split.std, method.dropout)
        model.to(device)
        shuffle = torch.Generator().manual_seed(seed)
        mix_gen = torch.Generator().manual_seed(seed + 1_000_003)
        mix_rng = np.random.default_rng(seed)
        optimizer = torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        milestones = sorted({max(1, round(f * epochs)) for f in config.milestones})
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
        history = []
        for epoch in range(1, epochs + 1):
            loss = train_epoch(model, optimizer, train_x, noisy_y, method, config.batch_size, shuffle, mix_gen, mix_rng)
            row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "loss": loss}
            row.update(epoch_errors(model, train_x, true_y, noisy_y, test_x, test_y, replaced))
            history.append(row)
            schedule.step()
            if on_epoch:
                on_epoch(row)
    finally:
        torch.random.set_rng_state(cpu_state)
    model.eval()
    return TrainedModel(model, history, time.perf_counter() - start)


def train_epoch(model, optimizer, x, y, method: Method, batch_size: int, shuffle, mix_gen, mix_rng) -> float:
    """One pass over (x, y) in shuffled batches; returns the mean training loss."""
    model.train()
    order = torch.randperm(len(x), generator=shuffle).to(x.device)
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        inputs, y_a, y_b, lam = mix_batch(x[idx], y[idx], method.alpha, mix_rng, mix_gen)
        loss = mixup_loss(model(inputs), y_a, y_b, lam)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
    return total / count
