"""Accuracy against minutes for a preset's training recipe (the cifar10-cpu trade-off), run on demand (not by pytest).

``clean``: trains ``--methods`` × ``--seeds`` for each of ``--epochs`` on the preset's data (loaded once) with the
preset's recipe, through the suite's own ``fit``, and prints one row per model: test accuracy after the last
epoch, training seconds (the per-epoch evaluation the suite does included) and training images/s.

``noise``: the label-noise stage's runs (``noise.levels`` × ``noise.methods`` on ``noise.train_subset`` images for
``noise.epochs``), one row per run: the share of replaced labels the model fits (1 − training error on them,
against the replaced label), its last-epoch test error and seconds.

    python bench/bench_cifar_cpu.py clean --dataset imagefolder:data/cifar10-jpeg --epochs 2 4 8
    python bench/bench_cifar_cpu.py clean --dataset imagefolder:data/cifar10-jpeg --set train.lr=0.4 --set data.test_subset=0
    python bench/bench_cifar_cpu.py noise --dataset imagefolder:data/cifar10-jpeg --set noise.epochs=20

``--set SECTION.KEY=VALUE`` overrides any field (VALUE read as JSON when it parses, else as a string).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from noise import corrupt, noise_specs
from robustness.config import nest, override
from robustness.data import load, training_subset
from robustness.methods import parse_method
from robustness.train import fit
from robustness.validation import load_config


def parse_set(items: list[str]) -> dict:
    pairs = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        pairs[tuple(key.split("."))] = parsed
    return nest(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("clean", "noise"))
    parser.add_argument("--preset", default="cifar10-cpu")
    parser.add_argument("--dataset", help="data.name, e.g. imagefolder:data/cifar10-jpeg")
    parser.add_argument("--data-root")
    parser.add_argument("--epochs", type=int, nargs="+", help="clean: one setting per value (default: the preset's)")
    parser.add_argument("--methods", nargs="+", help="default: erm (clean), noise.methods (noise)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    flags = parse_set(args.set)
    data = {k: v for k, v in {"name": args.dataset, "root": args.data_root}.items() if v}
    flags.setdefault("data", {}).update(data)
    config = load_config(args.preset, None, flags)
    device = torch.device("cpu") if config.device == "cpu" or not torch.cuda.is_available() else torch.device("cuda")
    clock = time.perf_counter()
    split = load(config.data)
    print(f"# {config.preset}: {split.name}, {len(split.train_y)} training / {len(split.test_y)} test images, "
          f"loaded in {time.perf_counter() - clock:.1f} s; device {device}, {torch.get_num_threads()} torch threads; "
          f"train {json.dumps({k: v for k, v in vars(config.train).items()})}", flush=True)

    rows = []
    if args.mode == "clean":
        print("| arch | method | seed | epochs | lr | wd | train images | test images | test accuracy | train s | min | img/s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
        for epochs in args.epochs or [config.train.epochs]:
            for method in args.methods or ["erm"]:
                for seed in args.seeds:
                    trained = fit(config.train.arch, parse_method(method), split, seed, config.train, device, epochs=epochs)
                    acc = 1 - trained.history[-1]["test_error"]
                    row = {"arch": config.train.arch, "method": method, "seed": seed, "epochs": epochs,
                           "lr": config.train.lr, "weight_decay": config.train.weight_decay,
                           "train_images": len(split.train_y), "test_images": len(split.test_y), "test_accuracy": acc,
                           "seconds": trained.seconds, "img_per_s": epochs * len(split.train_y) / trained.seconds,
                           "history": trained.history}
                    rows.append(row)
                    print(f"| {row['arch']} | {method} | {seed} | {epochs} | {row['lr']:g} | {row['weight_decay']:g} | "
                          f"{row['train_images']} | {row['test_images']} | {100 * acc:.1f}% | {trained.seconds:.0f} | "
                          f"{trained.seconds / 60:.1f} | {row['img_per_s']:.0f} |", flush=True)
    else:
        nc = config.noise
        train = override(config.train, {"epochs": nc.epochs})
        subset = training_subset(split, nc.train_subset, config.data.split_seed)
        print("| noise | method | seed | epochs | train images | fits replaced labels | last test error | "
              "best test error | train s |")
        print("|---|---|---|---|---|---|---|---|---|", flush=True)
        for spec in noise_specs(nc):
            for method in args.methods or nc.methods:
                for seed in args.seeds:
                    noisy = corrupt(subset.train_y, spec, subset.num_classes, seed)
                    trained = fit(train.arch, parse_method(method), subset, seed, train, device,
                                  labels=noisy.labels, replaced=noisy.replaced, epochs=nc.epochs)
                    last = trained.history[-1]
                    fitted = 1 - last["train_error_corrupted"]
                    best = min(h["test_error"] for h in trained.history)
                    row = {"noise": spec, "method": method, "seed": seed, "epochs": nc.epochs,
                           "train_images": len(subset.train_y), "fits_replaced": fitted,
                           "last_test_error": last["test_error"], "best_test_error": best,
                           "seconds": trained.seconds, "history": trained.history}
                    rows.append(row)
                    print(f"| {spec} | {method} | {seed} | {nc.epochs} | {len(subset.train_y)} | {100 * fitted:.1f}% | "
                          f"{100 * last['test_error']:.1f}% | {100 * best:.1f}% | {trained.seconds:.0f} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
