"""What each attack costs against FGSM, white box at one ε on the default data, measured in one run.

Trains the preset's clean models (or loads them from a finished run's ``models/``), then crafts
each attack on each model at the headline ε through the attack stage's own code
(``attacks.transfer.transfer_matrix``, white box only), on the same test images for every
attack, and prints wall seconds, the ratio to FGSM, and the mean white-box error:

    python bench/bench_worst_case.py                                    # quick preset, every test image
    python bench/bench_worst_case.py --images 100 --square-queries 1000  # the default run's subset
    python bench/bench_worst_case.py --run-dir reports/<run-id>         # the models of a finished run

Cheap attacks are repeated until they have run for a second and their median is taken. On a
shared machine trust the ratios (measured back to back, in one process), not the seconds.
"""

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attacks import make_attack  # noqa: E402
from attacks.transfer import transfer_matrix  # noqa: E402
from attacks.worst import headline_images  # noqa: E402
from robustness.data import load  # noqa: E402
from robustness.executors import Devices, InProcess  # noqa: E402
from robustness.stages.train import clean_recipes, clean_stage, model_from_state  # noqa: E402
from robustness.units import UnitStore  # noqa: E402
from robustness.validation import load_config, parse_methods  # noqa: E402

ATTACKS = ["fgsm", "ifgsm", "pgd", "mifgsm", "difgsm", "apgd_ce", "apgd_dlr", "fab", "square", "autoattack"]


def models_of(config, split, device, run_dir: str | None) -> dict:
    if run_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            models, _, _ = clean_stage(config, parse_methods(config), split, UnitStore(Path(tmp)), InProcess(),
                                       Devices.one(device), progress=False, run_dir=None)
        return models
    models = {}
    for name, recipe in clean_recipes(config, parse_methods(config)).items():
        state = torch.load(Path(run_dir) / "models" / f"{name}.pt", map_location="cpu", weights_only=True)
        models[name] = model_from_state(recipe, state, split, device)
    return models


def timed(config, models: dict, x, y, device, attack: str, eps: float) -> tuple[float, float]:
    """(seconds over every model, mean white-box error)."""
    settings = replace(config.attack, attacks=(attack,), eps=(eps,), heatmap_eps=eps)
    clock, errors = time.perf_counter(), []
    for name, model in models.items():
        cells = transfer_matrix({name: model}, x, y, settings, device, progress=False)["cells"]
        errors.append(cells[0]["error"])
    return time.perf_counter() - clock, statistics.mean(errors)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="quick")
    p.add_argument("--run-dir", help="take the clean models from this finished run of the preset")
    p.add_argument("--eps", type=float, help="default: the preset's heatmap ε")
    p.add_argument("--images", type=int, default=0, help="a stratified subset of test images (0: all)")
    p.add_argument("--square-queries", type=int, help="Square's budget (default: the preset's)")
    p.add_argument("--attacks", nargs="+", default=ATTACKS)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    flags = {"device": "cpu"} | ({"attack": {"square": {"queries": args.square_queries}}} if args.square_queries else {})
    config = load_config(args.preset, None, flags)
    device, split = torch.device("cpu"), load(config.data)
    eps = args.eps if args.eps is not None else config.attack.heatmap_eps
    models = models_of(config, split, device, args.run_dir)
    index = headline_images(split.test_y, replace(config.attack, worst_case_images=args.images))
    x, y = split.test_x[index], split.test_y[index]
    rows = []
    for attack in args.attacks:
        runs, error = [], None
        while not runs or (sum(runs) < 1.0 and len(runs) < 25):
            seconds, error = timed(config, models, x, y, device, attack, eps)
            runs.append(seconds)
        rows.append((attack, statistics.median(runs), len(runs), error))
    fgsm = next((s for a, s, _, _ in rows if a == "fgsm"), rows[0][1])
    print(f"{len(models)} models, {len(y)} test images, ε = {eps:g}, {args.threads} thread(s), "
          f"Square budget {make_attack('square', config.attack).settings.queries}")
    print(f"{'attack':12s} {'seconds':>9s} {'× FGSM':>9s} {'runs':>5s} {'error %':>8s}")
    for attack, seconds, count, error in rows:
        print(f"{attack:12s} {seconds:9.3f} {seconds / fgsm:9.1f} {count:5d} {100 * error:8.1f}")


if __name__ == "__main__":
    main()
