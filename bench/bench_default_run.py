"""The default run's wall time, against the recipe it had before the speed work, measured in one run.

    python bench/bench_default_run.py            # both, one after the other, in fresh processes
    python bench/bench_default_run.py --repeat 2 # each twice, interleaved; the best of each is reported

Runs ``python run_all.py --quiet`` exactly as a user does (the ``quick`` preset, torch's default
threads), once as it is and once with a TOML that restores the former training recipe
(30 clean and 40 label-noise epochs of the step schedule at lr 0.05 without Nesterov, NCHW
memory format, every training image evaluated each epoch). Everything else is today's code,
so the ratio isolates the recipe (the smaller evaluation batches help both runs alike).
Prints wall seconds, the stage times from results.json and the ratios; other processes on the
machine disturb seconds, so compare the ratio from one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMER = """[train]
epochs = 30
lr = 0.05
schedule = "step"
nesterov = false
channels_last = "off"
train_eval_images = 0
[noise]
epochs = 40
"""


def one_run(work: Path, name: str, toml: str | None) -> dict:
    """``run_all.py --quiet`` in a fresh process; its wall seconds and stage times."""
    args = [sys.executable, str(ROOT / "run_all.py"), "--quiet", "--out", str(work), "--run-id", name]
    if toml:
        (work / f"{name}.toml").write_text(toml)
        args += ["--config", str(work / f"{name}.toml")]
    clock = time.perf_counter()
    subprocess.run(args, check=True, cwd=work, capture_output=True)
    wall = time.perf_counter() - clock
    stages = json.loads((work / name / "results.json").read_text())["timing"]["stages_s"]
    return {"wall_s": wall, **{k: v for k, v in stages.items() if k != "data"}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=1, help="runs of each, interleaved (the best is reported)")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    args = p.parse_args()
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            for name, toml in (("former", FORMER), ("default", None)):
                run = one_run(Path(tmp), f"{name}-{k}", toml)
                print(f"{name:8} run {k + 1}: {run['wall_s']:6.1f} s wall  " + "  ".join(f"{s} {v:5.1f}" for s, v in run.items()
                                                                                     if s != "wall_s"), flush=True)
                if name not in best or run["wall_s"] < best[name]["wall_s"]:
                    best[name] = run
    print("\nstage                 former recipe   default    ratio")
    for key in best["default"]:
        ratio = best["former"][key] / max(best["default"][key], 1e-9)
        print(f"{key:20} {best['former'][key]:10.1f} s {best['default'][key]:9.1f} s   {ratio:5.2f}×")
    if args.json:
        Path(args.json).write_text(json.dumps(best, indent=1))


if __name__ == "__main__":
    main()
