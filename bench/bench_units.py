"""What cutting the attack stage into cached units costs: the whole transfer matrix in one pass
(attacks.transfer.transfer_matrix over every source) against one attack unit per attack × source (every ε),
on the same models, measured in the same run. Also: a rerun that finds every unit cached.

    python bench/bench_units.py [--preset quick] [--repeats 3]

Prints seconds and the ratio units / one pass (timings on a shared machine: trust the ratio).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attacks.transfer import transfer_matrix  # noqa: E402
from robustness.data import load  # noqa: E402
from robustness.executors import Devices, InProcess  # noqa: E402
from robustness.stages.attack import attack_matrix  # noqa: E402
from robustness.stages.train import clean_stage  # noqa: E402
from robustness.units import UnitStore  # noqa: E402
from robustness.validation import load_config, parse_methods  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="quick")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    config = load_config(args.preset, None, {"train": {"epochs": args.epochs}, "device": "cpu"})
    device, split = torch.device("cpu"), load(config.data)
    with tempfile.TemporaryDirectory() as tmp:
        models, _, identities = clean_stage(config, parse_methods(config), split, UnitStore(Path(tmp)), InProcess(),
                                            Devices.one(device), progress=False, run_dir=None)
        one_pass, per_unit, cached = [], [], []
        for k in range(args.repeats):
            clock = time.perf_counter()
            whole = transfer_matrix(models, split.test_x, split.test_y, config.attack, device, progress=False)
            one_pass.append(time.perf_counter() - clock)
            store = UnitStore(Path(tmp) / f"r{k}")
            clock = time.perf_counter()
            split_up = attack_matrix(config, identities, models, store, InProcess(), split, device, progress=False)
            per_unit.append(time.perf_counter() - clock)
            clock = time.perf_counter()
            attack_matrix(config, identities, models, store, InProcess(), split, device, progress=False)
            cached.append(time.perf_counter() - clock)
            assert split_up["cells"] == whole["cells"], "the units must reproduce the one-pass matrix exactly"
    best = min(one_pass)
    print(f"{len(models)} models, {len(whole['cells'])} cells, {split_up['n']} test images, best of {args.repeats}")
    print(f"one pass (transfer_matrix)   {best:7.2f} s   1.00")
    print(f"attack units, computed       {min(per_unit):7.2f} s   {min(per_unit) / best:.2f}")
    print(f"attack units, all cached     {min(cached):7.2f} s   {min(cached) / best:.3f}")


if __name__ == "__main__":
    main()
