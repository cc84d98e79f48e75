"""Training loop: the whole training set on the device as one tensor (uint8 for real
images), shuffled by index slices, augmented per batch on the device.

``fit`` trains one model for one (architecture, method, labels, seed) and
records per-epoch errors. The method turns each batch into a loss
(robustness/methods). Randomness comes from seeded streams (weights and
dropout; shuffling; crops and flips; each random method's own), so a seed
fixes the result on the CPU and mixup with α = 0 reproduces ERM exactly.

Weights and inputs are channels_last (faster convolutions on CUDA and on the
CPU alike). On CUDA the step runs under bf16 autocast, optionally
``torch.compile``d; on the CPU the same code runs in fp32 (``DevicePlan``), or
with bf16 when asked, which is how the tests exercise the CUDA path without a
GPU. Evaluation stays fp32 so the errors recorded here equal those the attack
stage measures.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from robustness.augment import random_crop_flip
from robustness.config import TrainConfig
from robustness.data import Split, as_pixels
from robustness.methods import Batch, Method, MethodStreams, Trainee
from robustness.models import build_model, mix_points

PEER_SEED_OFFSET = 4_000_037  # the k-th extra network's weights: seed + k · this, a seed no other stream uses
EVAL_BATCH = 256  # images per forward pass when only predicting (1024 was 1.5× slower per image on a CPU: cache)


@dataclass
class TrainedModel:
    model: nn.Module
    history: list[dict] = field(default_factory=list)  # one dict of errors per epoch
    seconds: float = 0.0


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Predicted labels of ``model`` (in eval mode) for images ``x`` (float pixels or uint8), on x's device."""
    was_training = model.training
    model.eval()
    labels = torch.cat([model(as_pixels(x[i : i + batch_size])).argmax(1) for i in range(0, len(x), batch_size)])
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


@dataclass(frozen=True)
class DevicePlan:
    """How the training step uses the device: autocast dtype (None = fp32), memory format, compile."""

    autocast_dtype: torch.dtype | None = None
    memory_format: torch.memory_format = torch.contiguous_format
    compile: bool = False

    def autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)


def device_plan(config: TrainConfig, device: torch.device) -> DevicePlan:
    """bf16 autocast on CUDA when "auto" (fp32 on the CPU unless asked); channels_last unless "off"."""
    cuda = device.type == "cuda"
    bf16 = config.precision == "bf16" or (config.precision == "auto" and cuda)
    channels_last = config.channels_last != "off"
    return DevicePlan(
        autocast_dtype=torch.bfloat16 if bf16 else None,
        memory_format=torch.channels_last if channels_last else torch.contiguous_format,
        compile=config.compile,
    )


@dataclass
class Streams:
    """The seeded random streams of one training run, each independent of the others."""

    shuffle: torch.Generator
    augment: torch.Generator
    methods: list[MethodStreams]  # one per random step of the method, in order

    @classmethod
    def from_seed(cls, seed: int, method: Method | None = None) -> Streams:
        return cls(
            shuffle=torch.Generator().manual_seed(seed),
            augment=torch.Generator().manual_seed(seed + 2_000_003),
            methods=method.streams(seed) if method else [],
        )


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
    plan: DevicePlan | None = None,
) -> TrainedModel:
    """Train one model; ``labels`` replaces the training labels (e.g. noisy ones).

    ``replaced`` marks the training examples whose label was replaced, for the
    per-epoch error on corrupted labels. ``plan`` overrides the device plan that
    ``config`` and ``device`` give (tests use it to run the CUDA path on the CPU).
    """
    epochs = epochs or config.epochs
    plan = plan or device_plan(config, device)
    start = time.perf_counter()
    train_x, true_y = split.train_images.to(device), split.train_y.to(device)  # uint8 stays uint8
    noisy_y = true_y if labels is None else labels.to(device)
    test_x, test_y = split.test_images.to(device), split.test_y.to(device)
    replaced = None if replaced is None else replaced.to(device)
    cpu_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # weights and dropout
    try:
        model = build_model(arch, split.input_shape, split.num_classes, split.mean, split.std, **method.model_options)
        model.to(device, memory_format=plan.memory_format)
        forward = torch.compile(model) if plan.compile else model  # shares the weights with `model`
        peers = peer_models(arch, split, method, seed, device, plan)
        trainee = Trainee(forward, mix_points(model), train_x, noisy_y, peers=tuple(compiled for _, compiled in peers),
                          epochs=epochs)
        streams = Streams.from_seed(seed, method)
        # One SGD over every network: a parameter's update depends only on its own gradient and state.
        parameters = list(model.parameters()) + [w for peer, _ in peers for w in peer.parameters()]
        optimizer = torch.optim.SGD(
            parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
            nesterov=config.nesterov,
        )
        per_epoch, per_batch = lr_schedule(optimizer, config, epochs, math.ceil(len(train_x) / config.batch_size))
        sample = eval_sample(len(train_x), config.train_eval_images, seed, train_x.device)
        history = []
        for epoch in range(1, epochs + 1):
            lr = optimizer.param_groups[0]["lr"]
            trainee.epoch = epoch
            loss = train_epoch(trainee, optimizer, method, config, plan, streams, per_batch)
            method.end_epoch(trainee)
            row = {"epoch": epoch, "lr": lr, "loss": loss}
            seen = slice(None) if epoch == epochs or sample is None else sample  # the last epoch: every image
            row.update(epoch_errors(model, train_x[seen], true_y[seen], noisy_y[seen], test_x, test_y,
                                    None if replaced is None else replaced[seen]))
            for k, (peer, _) in enumerate(peers, start=2):  # co-teaching's second network: its clean error too
                row[f"peer{k if k > 2 else ''}_test_error"] = error_rate(predict(peer, test_x), test_y)
            history.append(row)
            if per_epoch:
                per_epoch.step()
            if on_epoch:
                on_epoch(row)
    finally:
        torch.random.set_rng_state(cpu_state)
    model.eval()
    return TrainedModel(model, history, time.perf_counter() - start)


def peer_models(arch: str, split: Split, method: Method, seed: int, device: torch.device, plan: DevicePlan) -> list:
    """(model, compiled) for each network beyond the first (``method.networks``), each from its own seed; the
    global generator is left where building the first model left it, so the first trains as it would alone."""
    peers = []
    state = torch.random.get_rng_state()
    for k in range(1, method.networks):
        torch.manual_seed(seed + PEER_SEED_OFFSET * k)
        peer = build_model(arch, split.input_shape, split.num_classes, split.mean, split.std, **method.model_options)
        peer.to(device, memory_format=plan.memory_format)
        peers.append((peer, torch.compile(peer) if plan.compile else peer))
    torch.random.set_rng_state(state)
    return peers


def eval_sample(n: int, size: int, seed: int, device) -> torch.Tensor | None:
    """Sorted indices of a fixed, seeded sample of ``size`` training images for the per-epoch errors; None: all."""
    if size <= 0 or size >= n:
        return None
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 3_000_003))
    return order[:size].sort().values.to(device)


def lr_schedule(optimizer, config: TrainConfig, epochs: int, steps_per_epoch: int):
    """(scheduler stepped per epoch, scheduler stepped per batch); one of them is None.

    "step": lr ÷ 10 at each milestone (fractions of ``epochs``), per epoch: 0.5 and 0.75 of
    200 epochs are the paper's epochs 100 and 150. "onecycle": linear rise to ``lr`` over
    ``warmup`` of all steps, then linear decay, per batch (the fast CIFAR-10 recipes).
    """
    if config.schedule == "onecycle":
        return None, torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=epochs * steps_per_epoch, pct_start=config.warmup,
            anneal_strategy="linear", cycle_momentum=False,
        )
    milestones = sorted({max(1, round(f * epochs)) for f in config.milestones})
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1), None


def train_batch(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, config: TrainConfig, plan: DevicePlan, gen):
    """The batch ``idx`` as float pixels in the plan's memory format, augmented if configured; labels as stored."""
    inputs = x[idx]
    if config.augment:
        inputs = random_crop_flip(inputs, gen, config.crop_padding, padding_mode=config.crop_padding_mode)  # uint8: 4× less traffic
    return as_pixels(inputs).contiguous(memory_format=plan.memory_format), y[idx]


def train_epoch(
    trainee: Trainee, optimizer, method: Method, config: TrainConfig, plan: DevicePlan, streams: Streams, per_batch=None
) -> float:
    """One pass over the training set in shuffled batches; returns the mean training loss."""
    x, y = trainee.train_images, trainee.train_labels
    trainee.model.train()
    for peer in trainee.peers:
        peer.train()
    order = torch.randperm(len(x), generator=streams.shuffle).to(x.device)
    total = torch.zeros((), dtype=torch.float64, device=x.device)  # summed on the device: no sync per batch
    for i in range(0, len(x), config.batch_size):
        idx = order[i : i + config.batch_size]
        inputs, targets = train_batch(x, y, idx, config, plan, streams.augment)
        with plan.autocast(x.device):
            loss = method.loss(trainee, Batch(inputs, ((1.0, targets),), idx), streams.methods)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if per_batch:
            per_batch.step()
        total += loss.detach().double() * len(idx)
    return float(total) / len(x)
