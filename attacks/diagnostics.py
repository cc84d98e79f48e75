"""What the sanity checks need to know about each model itself, measured once on a batch of test images
(results.json's ``diagnostics``): the input-gradient norm, and the facts Croce & Hein's reference checks
(fra31/auto-attack, checks.py) look for before they trust an AutoAttack number:

- a randomized forward: several passes over the same images disagree;
- outputs that are probabilities (a softmax inside the forward) instead of logits;
- images whose input gradient is exactly zero (for the cross-entropy, and for the DLR loss the reference checks);
- a forward that calls autograd (an optimization loop at inference: a dynamic, test-time defense).

``attacks/checks.py`` turns them into warnings with their likely causes. Nothing here moves the run's random
streams: a randomized model's passes draw from forked generators.

    diagnose({"erm_s0": model}, split, torch.device("cpu"))["erm_s0"]["randomized"]  # False
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from attacks.transfer import input_gradient_norm

PASSES = 5  # forward passes compared for randomness (the reference's n)
OUTPUT_TOLERANCE = 1e-4  # largest L2 change of the L2-normalized outputs between passes still called deterministic (its alpha)
PROBABILITY_TOLERANCE = 1e-5  # outputs in [0, 1] and rows summing to 1 within this are probabilities (the reference's alpha)
AUTOGRAD_CALLS = ("grad", "backward", "_make_grads")  # functions a forward that optimizes calls (the reference's list)
TRACED_IMAGES = 8  # images in the one traced forward pass: tracing every Python call is slow, and one image suffices


def diagnose(models: dict[str, nn.Module], split, device, batch: int = 256) -> dict:
    """Per model, on the first ``batch`` test images: ``input_grad_norm`` (mean L1 norm of ∇x CE), ``deterministic``
    (two passes equal), ``randomized`` and ``output_change`` (``forward_change``), ``probabilities``,
    ``zero_gradient_images`` and ``calls_autograd``."""
    x, y = split.test_x[:batch].to(device), split.test_y[:batch].to(device)
    out = {}
    for name, model in models.items():
        model.eval()
        with forked_generators(x.device):  # a randomized model's passes leave the run's random streams alone
            with torch.no_grad():
                deterministic = bool(torch.equal(model(x), model(x)))
                outputs = model(x)
            out[name] = {"input_grad_norm": input_gradient_norm(model, x, y), "deterministic": deterministic,
                         **forward_change(model, x, y), "probabilities": looks_like_probabilities(outputs),
                         "zero_gradient_images": zero_gradient_images(model, x, y),
                         "calls_autograd": calls_autograd(model, x[:TRACED_IMAGES])}
    return out


@contextmanager
def forked_generators(device: torch.device):
    """Random draws inside leave the caller's CPU (and this CUDA device's) generator where it was."""
    devices = [torch.cuda.current_device() if device.index is None else device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


def forward_change(model: nn.Module, x: torch.Tensor, y: torch.Tensor, passes: int = PASSES) -> dict:
    """The reference's randomness check: ``passes`` forward passes over ``x``; ``randomized`` when the number of
    correct predictions differs between passes, or the L2-normalized outputs of two passes differ by more than
    ``OUTPUT_TOLERANCE`` (``output_change``: the largest such difference)."""
    with forked_generators(x.device), torch.no_grad():  # forked: see diagnose
        outputs = [model(x).float() for _ in range(passes)]
    correct = {int((o.argmax(1) == y).sum()) for o in outputs}
    unit = [o / (o.norm(dim=1, keepdim=True) + 1e-10) for o in outputs]
    change = max(float((unit[a] - unit[b]).norm(dim=1).max()) for a in range(passes) for b in range(a + 1, passes))
    return {"randomized": len(correct) > 1 or change > OUTPUT_TOLERANCE, "output_change": change}


def looks_like_probabilities(outputs: torch.Tensor) -> bool:
    """The reference's rule: every output in (−tol, 1 + tol) and every row summing to 1 within tol."""
    tol = PROBABILITY_TOLERANCE
    return bool(outputs.max() < 1 + tol and outputs.min() > -tol and ((outputs.sum(-1) - 1).abs() < tol).all())


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Croce & Hein's DLR loss per image, −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3): invariant to the logits' scale."""
    ordered = logits.sort(dim=1).values
    true = logits.gather(1, y[:, None]).squeeze(1)
    best_other = torch.where(logits.argmax(1) == y, ordered[:, -2], ordered[:, -1])
    return -(true - best_other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)


def zero_gradient_images(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Of the ``n`` images the model gets right (the ones an attack works on), how many have an exactly zero input
    gradient of the cross-entropy (``ce``) and of the DLR loss (``dlr``; None below 3 classes, where it does not
    exist). A gradient attack cannot move such an image. (On an image it gets wrong the DLR loss can be flat by
    construction: with the true class third it is exactly 1.)"""
    with torch.no_grad():
        right = model(x).argmax(1) == y
    x, y = x[right], y[right]
    counts = {}
    for loss, fn in (("ce", lambda z: F.cross_entropy(z, y, reduction="sum")), ("dlr", lambda z: dlr_loss(z, y).sum())):
        inputs = x.clone().requires_grad_(True)
        with torch.enable_grad():
            logits = model(inputs)
            if loss == "dlr" and logits.shape[1] < 3:
                counts[loss] = None
                continue
            (grad,) = torch.autograd.grad(fn(logits), inputs, allow_unused=True)
        counts[loss] = len(x) if grad is None else int((grad.flatten(1).abs().sum(1) == 0).sum())
    return {"n": len(x), **counts}


def calls_autograd(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether one forward pass calls ``torch.autograd.grad``, ``Tensor.backward`` or autograd's ``_make_grads``:
    the reference's test for a model that optimizes at inference. Python calls are traced during the pass
    (``sys.settrace``), and the tracer in place before (a debugger, coverage) is put back after."""
    seen = []

    def trace(frame, event, arg):
        if event == "call" and frame.f_code.co_name in AUTOGRAD_CALLS:
            seen.append(frame.f_code.co_name)
        # returns None: calls only, no line events inside

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        model(x)
    finally:
        sys.settrace(previous)
    return bool(seen)
