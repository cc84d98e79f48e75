"""Probe a model on one batch before attacking it: what it returns, and whether attacks can follow it.

A custom model passes when, on a batch of the data set's test images (pixels
in [0, 1], N×C×H×W), it returns finite N×K logits with K the data set's class
count and a non-zero input gradient of the cross-entropy. Rows that are
non-negative and sum to 1 are flagged as probabilities (attacks still run;
the loss then sees softmax twice, which weakens gradient attacks), and a model
whose outputs differ between two passes over the same images in eval mode
(dropout left on, a random layer) is flagged as random, each with a warning
in the console at probe time. The model is left in eval mode. Every failure is a one-line ``SuiteError`` naming the
model and what to fix.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

from robustness.errors import SuiteError, one_line, warn

PROBE_BATCH = 32  # test images the probe runs on
# Two eval-mode passes over the same images may differ by float reordering on some devices, never by more than
# this; dropout changes logits by a large fraction of their size.
SAME_OUTPUT_RTOL, SAME_OUTPUT_ATOL = 1e-4, 1e-5


def _forward(name: str, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    shape = "×".join(map(str, x.shape))
    try:
        out = model(x)
    except Exception as err:  # any failure inside the user's forward is an input mismatch to report
        raise SuiteError(f"model {name!r} fails on a batch of the data set's images ({shape}, float32 pixels in [0, 1]) "
                         f"with {one_line(err)}; it must accept N×C×H×W images of this data set") from None
    if not isinstance(out, torch.Tensor):
        raise SuiteError(f"model {name!r} returns a {type(out).__name__}, not a tensor; make forward return only the N×C logits")
    return out


def _check_output(name: str, out: torch.Tensor, batch: int, num_classes: int) -> None:
    shape = "×".join(map(str, out.shape))
    if out.dim() != 2 or out.shape[0] != batch:
        raise SuiteError(f"model {name!r} returns shape {shape} for a batch of {batch}; it must return N×C logits (N={batch})")
    if out.shape[1] != num_classes:
        raise SuiteError(f"model {name!r} returns {out.shape[1]} scores per image but the data set has {num_classes} classes; "
                         "use a model trained on this data set (or its class count)")
    if not out.is_floating_point() or not torch.isfinite(out).all():
        raise SuiteError(f"model {name!r} returns non-finite or non-float scores; it must return finite float logits")


def looks_like_probabilities(out: torch.Tensor) -> bool:
    """Rows that are non-negative and sum to 1: softmax outputs rather than logits."""
    sums = out.detach().sum(1)
    return bool((out >= 0).all()) and bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-4))


def _input_gradient(name: str, out: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean L1 norm per image of ∇x CE; zero (or no graph at all) is an error."""
    grad = None
    if out.requires_grad:
        (grad,) = torch.autograd.grad(F.cross_entropy(out, y, reduction="sum"), x, allow_unused=True)
    norm = 0.0 if grad is None else float(grad.abs().flatten(1).sum(1).mean())
    if not norm > 0:
        raise SuiteError(f"model {name!r} has a zero input gradient (a detach, torch.no_grad, rounding, thresholding or argmax in "
                         "its forward); gradient attacks cannot evaluate it, so make the forward differentiable")
    return norm


def is_random(model: nn.Module, x: torch.Tensor, first: torch.Tensor, device: torch.device) -> bool:
    """True when a second eval-mode pass over ``x`` gives other outputs than ``first`` (dropout left on).

    The second pass draws from forked generators, so probing does not move the run's random streams."""
    devices = [torch.cuda.current_device() if device.index is None else device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        second = model(x.detach())
    return not (isinstance(second, torch.Tensor) and second.shape == first.shape
                and torch.allclose(second.float(), first.detach().float(), rtol=SAME_OUTPUT_RTOL, atol=SAME_OUTPUT_ATOL))


def probe_model(name: str, model: nn.Module, split, device: torch.device, batch: int = PROBE_BATCH) -> dict:
    """Put ``model`` in eval mode and check it on ``batch`` test images; returns what it found.

    Example: ``probe_model("mine", model, split, torch.device("cpu"))["outputs"]`` is ``"logits"``.
    """
    model.eval()
    x = split.test_x[:batch].to(device).clone().requires_grad_(True)
    y = split.test_y[:batch].to(device)
    with torch.enable_grad():
        out = _forward(name, model, x)
        _check_output(name, out, len(x), split.num_classes)
        probabilities = looks_like_probabilities(out)
        norm = _input_gradient(name, out, x, y)
    random = is_random(model, x, out, torch.device(device))
    if probabilities:
        print(f"warning: model {name!r} returns probabilities (rows sum to 1), not logits; attacks see softmax twice "
              "and may underestimate its error, so return the logits if you can", file=sys.stderr)
    if random:
        warn(f"model {name!r} gives different outputs for the same images in eval mode (dropout or another random "
             "layer left on in eval?); its errors change from pass to pass and gradient attacks aim at a moving "
             "target, so make its forward deterministic in eval mode")
    return {"batch": len(x), "output_shape": list(out.shape), "outputs": "probabilities" if probabilities else "logits",
            "input_grad_norm": norm, "random_in_eval": random}
