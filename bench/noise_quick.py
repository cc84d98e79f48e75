#!/usr/bin/env python
"""Wall time of the quick preset's label-noise section against the pre-issue-3 section, in the same run.

    python bench/noise_quick.py               # one noise level (the per-level cost is the same at every level)
    python bench/noise_quick.py --levels 0.2 0.5 0.8

Baseline: methods erm, mixup:1, mixup:8 at 60 epochs (the section before the dropout grid).
Prints seconds for each and the ratio new / baseline; timings on a shared machine are noisy,
so read the ratio, measured back to back in one process.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from robustness.presets import PRESETS  # noqa: E402
from robustness.data import load  # noqa: E402
from robustness.executors import InProcess  # noqa: E402
from robustness.stages.label_noise import noise_stage  # noqa: E402
from robustness.units import UnitStore  # noqa: E402

BASELINE = {"methods": ("erm", "mixup:1", "mixup:8"), "epochs": 60}


def timed(config, split) -> float:
    start = time.perf_counter()
    noise_stage(config, split, UnitStore(None), InProcess(), torch.device("cpu"), progress=False)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--levels", type=float, nargs="+", default=[0.5])
    args = p.parse_args()
    quick = PRESETS["quick"]
    split = load(quick.data)
    new = replace(quick, noise=replace(quick.noise, levels=tuple(args.levels)))
    old = replace(new, noise=replace(new.noise, **BASELINE))
    old_s, new_s = timed(old, split), timed(new, split)
    epochs = lambda c: len(c.noise.levels) * len(c.noise.methods) * len(c.noise.seeds) * c.noise.epochs  # noqa: E731
    print(f"baseline (erm, mixup:1, mixup:8 × 60 epochs): {old_s:.1f} s for {epochs(old)} epochs")
    print(f"quick now ({', '.join(new.noise.methods)} × {new.noise.epochs} epochs): {new_s:.1f} s for {epochs(new)} epochs")
    print(f"ratio now / baseline: {new_s / old_s:.2f} (epochs ratio {epochs(new) / epochs(old):.2f}); "
          f"torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
