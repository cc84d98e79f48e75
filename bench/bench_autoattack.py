"""The suite's standard AutoAttack against Croce & Hein's reference code, on the same model and images, on the CPU,
in one run: images per second of each, their ratio, and their numbers, which must be equal.

The reference is the ``pyautoattack`` package (the ``test`` extra; its attack files are fra31/auto-attack's), run as
its README runs it: ``AutoAttack(model, eps=…, seed=…, version="standard").run_standard_evaluation(x, y)`` with one
batch of all the images. The suite's side is ``make_attack("autoattack").build(model, eps, seed)(x, y)``, what the
attack stage runs per batch. Both at full strength (100 iterations, 9 targets, 5,000 queries) by default.

    python bench/bench_autoattack.py                            # PGD-AT digits model, 200 test images, ε = 0.1
    python bench/bench_autoattack.py --model erm --images 540   # the undefended model, every digits test image
    python bench/bench_autoattack.py --checkpoint m.pt --data imagefolder:data/cifar10-jpeg --test-subset 1000 \
        --eps 0.00784 --images 200                          # a CIFAR-10 model (saved whole, torch.save(model))

The sides alternate (suite, reference, reference, suite, …) over ``--repeats`` rounds and each side's median is
taken, so load that drifts over the run hits both alike. On a shared machine trust the ratio, not the seconds.
Exits with status 1, naming the images, if the two break different images.
"""

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import pyautoattack  # the reference: pip install -e ".[test]"
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attacks import make_attack  # noqa: E402
from robustness.config import DataConfig  # noqa: E402
from robustness.data import load  # noqa: E402
from robustness.methods import parse_method  # noqa: E402
from robustness.presets import PRESETS  # noqa: E402
from robustness.seeding import seeded  # noqa: E402
from robustness.train import fit, predict  # noqa: E402

CPU = torch.device("cpu")
METHODS = {"erm": "erm", "pgd_at": "pgd_at:0.1"}  # the digits models trained here (tiny preset's recipe, 3 epochs)
SEED = 0


def suite_side(model, x, y, eps: float) -> torch.Tensor:
    attack = make_attack("autoattack")
    with seeded(SEED, CPU):  # as the attack stage crafts
        return attack.build(model, eps, SEED)(x, y)


def reference_side(model, x, y, eps: float) -> torch.Tensor:
    logging.getLogger("auto-attack").setLevel(logging.ERROR)  # its checks' notes; the suite's checks are its own
    return pyautoattack.AutoAttack(model, eps=eps, seed=SEED, version="standard", device="cpu") \
        .run_standard_evaluation(x, y, batch_size=len(x))[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(METHODS), default="pgd_at", help="digits model to train (default pgd_at)")
    p.add_argument("--checkpoint", help="a whole model saved with torch.save (trusted file), instead of --model")
    p.add_argument("--data", default="digits", help="data set of --checkpoint (default digits)")
    p.add_argument("--test-subset", type=int, default=0,
                   help="of --data, a stratified subset of this many test images first (an image folder lists its test "
                        "images class by class); 0: all")
    p.add_argument("--images", type=int, default=200, help="the first test images, one batch (default 200)")
    p.add_argument("--eps", type=float, default=0.1, help="L∞ radius, pixels in [0, 1] (default 0.1)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for both sides (default 1)")
    p.add_argument("--repeats", type=int, default=1, help="rounds of (suite, reference), alternating (default 1)")
    p.add_argument("--with-fast", action="store_true", help="also time autoattack-fast (10 iterations), for scale; not compared")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    split = load(PRESETS["tiny"].data if args.checkpoint is None else DataConfig(name=args.data, test_subset=args.test_subset))
    if args.checkpoint:
        model = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    else:
        model = fit("digits_cnn", parse_method(METHODS[args.model]), split, 0, PRESETS["tiny"].train, CPU, epochs=3).model
    model.eval()
    for weight in model.parameters():
        weight.requires_grad_(False)
    x, y = split.test_x[: args.images], split.test_y[: args.images]

    sides = {"suite": suite_side, "reference": reference_side}
    seconds, images = {name: [] for name in sides}, {}
    for round_ in range(args.repeats):
        for name in (sides if round_ % 2 == 0 else reversed(list(sides))):
            clock = time.perf_counter()
            images[name] = sides[name](model, x, y, args.eps)
            seconds[name].append(time.perf_counter() - clock)
            print(f"round {round_ + 1}: {name} {seconds[name][-1]:.1f} s", file=sys.stderr, flush=True)

    if args.with_fast:
        clock = time.perf_counter()
        with seeded(SEED, CPU):
            images["fast"] = make_attack("autoattack-fast").build(model, args.eps, SEED)(x, y)
        seconds["fast"] = [time.perf_counter() - clock]
    wrong = {name: predict(model, adv) != y for name, adv in images.items()}
    clean = float((predict(model, x) != y).float().mean())
    median = {name: statistics.median(s) for name, s in seconds.items()}
    print(f"{len(x)} images, ε = {args.eps:g}, {args.threads} thread(s), {args.repeats} round(s); clean accuracy {1 - clean:.1%}")
    print("| side | seconds (median) | images/s | robust accuracy |")
    print("|---|---|---|---|")
    for name in seconds:
        print(f"| {name} | {median[name]:.1f} | {len(x) / median[name]:.2f} | {1 - float(wrong[name].float().mean()):.1%} |")
    print(f"suite speed / reference speed: {median['reference'] / median['suite']:.2f}x; adversarial images "
          f"{'bit-identical' if torch.equal(images['suite'], images['reference']) else 'not bit-identical'}")
    only_suite = (wrong["suite"] & ~wrong["reference"]).nonzero().flatten().tolist()
    only_reference = (wrong["reference"] & ~wrong["suite"]).nonzero().flatten().tolist()
    if only_suite or only_reference:
        sys.exit(f"the two break different images: only the suite {only_suite}, only the reference {only_reference}")
    print("the same images broken by both")


if __name__ == "__main__":
    main()
