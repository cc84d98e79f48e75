"""A CIFAR-10 ResNet-18 on the CPU: images/s of FGSM, PGD-10 and AutoAttack in the suite's attack stage and in a
plain torchattacks loop, measured in one run, and the share of the CPU's peak FLOP rate the gradient passes reach.

    python bench/bench_resnet_cpu.py                                  # 1,000 CIFAR-10 (JPEG) test images, random weights
    python bench/bench_resnet_cpu.py --checkpoint net.pt --images 1000 --aa-images 100
    python bench/bench_resnet_cpu.py --attacks fgsm pgd --threads 2

The model is the paper's PreAct ResNet-18 (``preact_resnet18``), held as the suite holds a trained model (eval mode,
channels_last on the CPU). ``--checkpoint`` loads a state_dict of it; without one its weights are random: FGSM's and
PGD's cost does not depend on them (a fixed number of gradient passes), but AutoAttack's does (it attacks only the
images its earlier parts left), so its images/s on random weights is a floor case, not a robust model's.

Images: the first N of CIFAR-10's test split (``../shared/data/cifar10-jpeg.tar.gz``), else N random images in
[0, 1] (the cost is the same).

- suite: ``attacks.transfer.transfer_matrix`` white box (the attack stage's code: chunks on worker threads,
  every ε of a batch at once, no weight gradients);
- plain: per batch of ``attack.batch_size``, the model's predictions on the clean images, the torchattacks attack
  ``make_attack(name).build(model, eps, seed)`` returns, then the model's predictions on its examples (what a user
  writes to get the two numbers the suite reports: clean error and error under attack).
Both are asserted to give the same number of errors; each runs once on 2 images first (the first call in a process
builds its kernels: 10× slower for AutoAttack on 8 images).

FLOP share: torch's ``FlopCounterMode`` counts the FLOPs of one gradient pass per image (forward, and backward to
the input only, as both loops take it) and of one forward pass; the peak is the best rate of a float32 matmul (1024,
2048 and 4096 square) on the same threads (the rate the CPU's BLAS reaches: a practical peak, below the datasheet's cores × clock ×
FMA width). Share = (gradient passes × FLOPs per pass + 2 forward passes (clean, adversarial) × FLOPs per forward) per
image × images per second ÷ that peak; both loops do that work. Other processes on the machine disturb every figure:
compare the ratios from one run.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attacks import make_attack
from attacks.transfer import transfer_matrix
from robustness.config import AttackConfig
from robustness.models import build_model

SHARED = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
EPS = 8 / 255
PASSES = {"fgsm": 1, "pgd": 10}  # gradient passes per image (PGD-10's steps); AutoAttack's vary with the model


def cifar_test(n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The first ``n`` test images of CIFAR-10 (JPEG) in class order 0..9 interleaved, or random ones."""
    if not SHARED.is_file():
        return torch.rand(n, 3, 32, 32), torch.randint(0, 10, (n,)), "random images"
    wanted: dict[str, int] = {}  # member name -> position among the n images
    with tarfile.open(SHARED) as archive:  # the names first, then one pass in archive order (a gzip stream cannot seek back)
        names = sorted(m.name for m in archive if m.isfile() and "/test/" in f"/{m.name}")
    classes = sorted({Path(name).parent.name for name in names})
    by_class = {c: [name for name in names if Path(name).parent.name == c] for c in classes}
    for k in range(n):
        wanted[by_class[classes[k % 10]][k // 10]] = k
    images: list = [None] * n
    with tarfile.open(SHARED) as archive:
        for member in archive:
            if member.name in wanted:
                with archive.extractfile(member) as handle:
                    images[wanted[member.name]] = np.asarray(Image.open(handle).convert("RGB"), dtype=np.float32) / 255
    labels = [k % 10 for k in range(n)]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels), "CIFAR-10 (JPEG) test images"


def resnet(checkpoint: str | None) -> torch.nn.Module:
    model = build_model("preact_resnet18", (3, 32, 32), 10, mean=(0.4914, 0.4822, 0.4465), std=(0.2471, 0.2435, 0.2616))
    if checkpoint:
        model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model.eval().to(memory_format=torch.channels_last)


def flops_per_pass(model: torch.nn.Module, batch: int = 8) -> float:
    """FLOPs of one gradient pass per image: forward, and backward to the input only (weights frozen)."""
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(batch, 3, 32, 32).to(memory_format=torch.channels_last).requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        loss = torch.nn.functional.cross_entropy(model(x), torch.zeros(batch, dtype=torch.long))
        loss.backward()  # to x only: the weights take no gradient
    for p in model.parameters():
        p.requires_grad_(True)
    return counter.get_total_flops() / batch


def flops_per_forward(model: torch.nn.Module, batch: int = 8) -> float:
    """FLOPs of one forward pass per image (a prediction)."""
    x = torch.rand(batch, 3, 32, 32).to(memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() / batch


def matmul_peak(sizes: tuple[int, ...] = (1024, 2048, 4096), seconds: float = 2.0) -> float:
    """The best float32 matmul rate, FLOP/s, over ``seconds`` of repeats at each size."""
    best = 0.0
    for size in sizes:
        a, b = torch.rand(size, size), torch.rand(size, size)
        clock = time.perf_counter()
        while time.perf_counter() - clock < seconds:
            start = time.perf_counter()
            a @ b
            best = max(best, 2 * size**3 / (time.perf_counter() - start))
    return best


def suite(model, x, y, config: AttackConfig) -> tuple[float, tuple[int, int]]:
    """Seconds, and (clean errors, errors under attack)."""
    clock = time.perf_counter()
    cells = transfer_matrix({"m": model}, x, y, config, torch.device("cpu"), progress=False)["cells"]
    wrong = tuple(next(c["wrong"] for c in cells if (c["eps"] > 0) == attacked) for attacked in (False, True))
    return time.perf_counter() - clock, wrong


def plain(model, x, y, config: AttackConfig, name: str) -> tuple[float, tuple[int, int]]:
    """Seconds, and (clean errors, errors under attack)."""
    attack = make_attack(name, config, 10).build(model, EPS, seed=0)
    clock, clean, wrong = time.perf_counter(), 0, 0
    for start in range(0, len(x), config.batch_size):
        xb, yb = x[start : start + config.batch_size], y[start : start + config.batch_size]
        with torch.no_grad():
            clean += int((model(xb).argmax(1) != yb).sum())
        adversarial = attack(xb, yb)
        with torch.no_grad():
            wrong += int((model(adversarial).argmax(1) != yb).sum())
    return time.perf_counter() - clock, (clean, wrong)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=1000, help="test images for FGSM and PGD")
    p.add_argument("--aa-images", type=int, default=100, help="test images for AutoAttack (hours on a CPU at 1,000)")
    p.add_argument("--attacks", nargs="+", default=["fgsm", "pgd", "autoattack"])
    p.add_argument("--checkpoint", help="a state_dict of preact_resnet18 (CIFAR-10); default: random weights")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x, y, source = cifar_test(max(args.images, args.aa_images))
    model = resnet(args.checkpoint)
    per_pass, per_forward, peak = flops_per_pass(model), flops_per_forward(model), matmul_peak()
    print(f"preact_resnet18 ({'weights ' + args.checkpoint if args.checkpoint else 'random weights'}), {source}, "
          f"ε = 8/255, {args.threads} thread(s); one gradient pass {per_pass / 1e9:.3f}, one forward {per_forward / 1e9:.3f} GFLOP "
          "per image; "
          f"matmul peak {peak / 1e9:.1f} GFLOP/s")
    print(f"{'attack':11s} {'images':>6s} {'suite img/s':>11s} {'plain img/s':>11s} {'suite/plain':>11s} "
          f"{'FLOP share suite, plain':>24s} {'wrong':>6s}")
    for name in args.attacks:
        n = args.aa_images if name.startswith("autoattack") else args.images
        config = replace(AttackConfig(), attacks=(name,), eps=(0.0, EPS), heatmap_eps=EPS)
        suite(model, x[:2], y[:2], config), plain(model, x[:2], y[:2], config, name)  # warm-up: the first call builds kernels
        (s_time, s_wrong), (p_time, p_wrong) = suite(model, x[:n], y[:n], config), plain(model, x[:n], y[:n], config, name)
        assert s_wrong == p_wrong, f"{name}: the suite got {s_wrong} wrong, the plain loop {p_wrong}"
        work = n * (PASSES[name] * per_pass + 2 * per_forward) if name in PASSES else 0.0
        share = f"{100 * work / s_time / peak:.1f}%, {100 * work / p_time / peak:.1f}%" if work else "–"
        print(f"{name:11s} {n:6d} {n / s_time:11.2f} {n / p_time:11.2f} {p_time / s_time:10.2f}× {share:>24s} {s_wrong[1]:6d}")


if __name__ == "__main__":
    main()
