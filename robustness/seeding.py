"""Run a block of code under a fixed seed of torch's global generators, and leave the caller's generators as
they were.

Base layer: the attacks (each random crafting call, attacks/transfer.py, attacks/pgd.py) and training
(``pgd_at``'s random start, robustness/methods/pgd_at.py) both seed this way, so neither domain imports the other.
The seeds themselves are the caller's: ``attacks.seeding.craft_seed`` for the attacks, a method's own stream in training.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def seeded(seed: int, device: torch.device):
    """Run the body with torch's global generators seeded to ``seed``, then restore them.

    ``with seeded(7, "cpu"): x = torch.rand(3)`` draws the same ``x`` every time and leaves the CPU generator (and,
    for a CUDA ``device``, that device's generator) where it was before the block."""
    device = torch.device(device)
    devices = [torch.cuda.current_device() if device.index is None else device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
