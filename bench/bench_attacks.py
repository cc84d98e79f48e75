"""Benchmark of the attack stage: the naive loop against each optimisation step, same models and data.

    python bench/bench_attacks.py                     # quick preset's models and attack settings
    python bench/bench_attacks.py --sizes 0 2000                     # the digits test split (540), then 2,000
    python bench/bench_attacks.py --sizes 10000 --steps naive +frozen # one large point, as its own command

Trains the preset's clean models once, then, for each of ``--sizes`` (0: the digits test
split; N: N images, the test images tiled and jittered by ±2/255), runs each variant in a
fresh subprocess (so peak memory is measured cleanly):

    naive      a torchattacks attack per source × attack × ε over the whole test set,
               kept whole, then every target re-evaluated (clean predictions included)
    streamed   per batch: clean predictions once, each source crafts once per attack and ε,
               every target evaluated on it before the next batch
    +fgsm      FGSM's one gradient serves every ε
    +fused     the ε of I-FGSM and PGD stacked as far as attack.fuse_images allows (default: one
               batch of images per pass, so at batch 256 they craft one ε at a time)
    +frozen    no weight gradients (only ∇x)
    +chunks    on a CPU, every ε stacked and the gradient passes (and the scoring) run in chunks of
               attack.chunk_images on one worker thread per torch thread: the suite's attack stage
               (the steps before it run with chunk_images = 0: whole batches on the main thread)
    all-eps    +frozen with every ε stacked in one pass (no memory budget, no chunks): what the budget costs
    naive-nchw the naive loop on the same models in NCHW, as the suite held them before it kept
               channels_last on the CPU too (a reference, not a step: its numbers may differ in rounding)

The models are channels_last, as the suite holds trained models (the naive loop uses the same ones).
``--repeat N`` runs every variant N times, interleaved, and keeps each one's fastest run and
smallest peak (the resident set's peak varies from run to run with glibc's arenas).

No variant crafts at ε = 0, the naive loop included: the ball holds only the clean image.

Every variant's numbers must equal the naive loop's exactly (asserted). Reported:
wall time and peak memory of each, and ratios against the naive loop and
against the previous step, all measured in this run. Peak memory is the
process's peak resident set above its level just before the stage (VmHWM −
VmRSS from /proc/self/status; tracemalloc does not see torch's allocator), or
torch.cuda.max_memory_allocated on CUDA. ``--steady-memory`` runs the children with
MALLOC_MMAP_THRESHOLD_=65536, so that glibc hands every large buffer back when torch frees it:
the peaks then measure live memory and repeat to within a few percent, but every variant takes
about twice as long (a page fault per large buffer), so time and memory come from separate runs. Other processes on the machine
disturb wall times: compare ratios from one run, not absolute seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from attacks import make_attack  # noqa: E402
from robustness.config import parse_eps  # noqa: E402
from robustness.presets import PRESETS  # noqa: E402
from robustness.data import load  # noqa: E402
from robustness.methods import model_id, parse_method  # noqa: E402
from robustness.models import build_model  # noqa: E402

STEPS = ["naive-nchw", "naive", "streamed", "+fgsm", "+fused", "+frozen", "+chunks", "all-eps"]


def test_set(split, size: int | None):
    """The digits test split, or ``size`` images: the split tiled, each copy jittered by ±2/255 (seeded)."""
    if not size:
        return split.test_x, split.test_y
    reps = -(-size // len(split.test_y))
    x, y = split.test_x.repeat(reps, 1, 1, 1)[:size], split.test_y.repeat(reps)[:size]
    noise = torch.empty_like(x).uniform_(-2 / 255, 2 / 255, generator=torch.Generator().manual_seed(0))
    return (x + noise).clamp(0, 1), y


def peak_memory_probe(device: torch.device):
    """A function returning bytes of peak memory since this call."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        return lambda: torch.cuda.max_memory_allocated(device) - base

    def status(key):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
        return 0

    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)
    base = status("VmRSS:")
    return lambda: status("VmHWM:") - base


def child(step: str, size: int | None, model_file: str, out_file: str) -> None:
    """Run one variant on one test set in this (fresh) process; write its numbers and costs as JSON."""
    from attacks.naive import naive_matrix
    from attacks.transfer import transfer_matrix

    saved = torch.load(model_file, weights_only=True)
    config = PRESETS[saved["preset"]]
    attack_cfg = dataclasses.replace(config.attack, **saved["attack_overrides"])
    device = torch.device(saved["device"])
    split = load(config.data)
    models = {}
    for name, state in saved["models"].items():
        model = build_model(config.train.arch, split.input_shape, split.num_classes, split.mean, split.std)
        model.load_state_dict(state)
        fmt = torch.contiguous_format if step == "naive-nchw" else torch.channels_last  # as the suite holds trained models
        models[name] = model.to(device, memory_format=fmt).eval()
    x, y = test_set(split, size)
    variants = {
        "streamed": dict(fuse=(), freeze_weights=False),
        "+fgsm": dict(fuse=("fgsm",), freeze_weights=False),
        "+fused": dict(fuse=attack_cfg.attacks, freeze_weights=False),
        "+frozen": dict(fuse=attack_cfg.attacks, freeze_weights=True),
        "+chunks": dict(fuse=attack_cfg.attacks, freeze_weights=True),  # the only one with the preset's chunk_images
        "all-eps": dict(fuse=attack_cfg.attacks, freeze_weights=True),  # with attack_cfg's budget lifted below
    }
    if step != "+chunks":  # whole batches on the main thread, as the stage ran before it had chunks
        attack_cfg = dataclasses.replace(attack_cfg, chunk_images=0)
    if step == "all-eps":  # every ε stacked in one pass: what the budget saves memory from
        attack_cfg = dataclasses.replace(attack_cfg, fuse_images=len(attack_cfg.eps) * attack_cfg.batch_size)
    peak = peak_memory_probe(device)
    clock = time.perf_counter()
    if step in ("naive", "naive-nchw"):
        result = naive_matrix(models, x, y, attack_cfg, device)
    else:
        result = transfer_matrix(models, x, y, attack_cfg, device, progress=False, **variants[step])
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - clock
    Path(out_file).write_text(json.dumps({"seconds": seconds, "peak_bytes": peak(), "result": result}))


def train_models(preset: str, epochs: int | None, device: torch.device) -> dict:
    from robustness.train import fit

    config = PRESETS[preset]
    split = load(config.data)
    out = {}
    for spec in config.clean.methods:
        for seed in config.clean.seeds:
            method = parse_method(spec)
            out[model_id(method, seed)] = fit(config.train.arch, method, split, seed, config.train, device, epochs=epochs).model
    return out


def run_step(step: str, size: int | None, model_file: Path, work: Path, steady_memory: bool = False) -> dict:
    out = work / f"{step}-{size}.json"
    cmd = [sys.executable, __file__, "--threads", str(torch.get_num_threads()), "--child", step, "--size", str(size or 0), "--models", str(model_file), "--out", str(out)]
    env = dict(os.environ)
    if steady_memory:  # glibc returns each large buffer on free: the peak is live memory, the time is not the suite's
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    subprocess.run(cmd, check=True, env=env)
    return json.loads(out.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="quick", help="whose models, data and attack settings (default: quick)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the preset's; timing hardly depends on it)")
    p.add_argument("--sizes", type=int, nargs="+", default=[0, 10_000],
                   help="test-set sizes: 0 the digits test split, N that many tiled images (default: 0 10000)")
    p.add_argument("--steps", nargs="+", default=STEPS, choices=STEPS, help="variants to run (naive always runs)")
    p.add_argument("--eps", nargs="+", help="override the preset's ε list, e.g. 0 2/255 0.1 (to shorten a run)")
    p.add_argument("--iter-steps", type=int, help="override I-FGSM's and PGD's steps (to shorten a run)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch threads per process, and the stage's worker threads (default 2: the machine CI and the README measure on)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--steady-memory", action="store_true",
                   help="children with MALLOC_MMAP_THRESHOLD_=65536: steady peaks of live memory, times about 2× longer")
    p.add_argument("--repeat", type=int, default=1, help="runs of each variant, interleaved (fastest time, smallest peak kept)")
    p.add_argument("--json", help="also write the table to this JSON file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--models", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        return child(args.child, args.size or None, args.models, args.out)

    device = torch.device(args.device)
    steps = [s for s in STEPS if s in args.steps or s == "naive"]  # naive always runs: the baseline
    config = PRESETS[args.preset]
    print(f"training {args.preset} preset models ({args.epochs or config.train.epochs} epochs) ...", flush=True)
    models = train_models(args.preset, args.epochs, device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_file = work / "models.pt"
        overrides = {}
        if args.eps:
            overrides["eps"] = tuple(parse_eps(e) for e in args.eps)
        if args.iter_steps:
            overrides["settings"] = config.attack.tune("ifgsm", steps=args.iter_steps).tune("pgd", steps=args.iter_steps).settings
        config = dataclasses.replace(config, attack=dataclasses.replace(config.attack, **overrides))
        torch.save({"preset": args.preset, "device": str(device), "attack_overrides": overrides,
                    "models": {k: m.state_dict() for k, m in models.items()}}, model_file)
        for size in [s or None for s in args.sizes]:
            runs = {}
            for _ in range(args.repeat):
                for step in steps:
                    run = run_step(step, size, model_file, work, args.steady_memory)
                    best = runs.setdefault(step, run)
                    best["seconds"] = min(best["seconds"], run["seconds"])
                    best["peak_bytes"] = min(best["peak_bytes"], run["peak_bytes"])
            for step in steps:
                if step != "naive-nchw":  # NCHW rounds differently: a reference for time and memory only
                    assert runs[step]["result"] == runs["naive"]["result"], f"{step} differs from the naive loop"
                ladder = [s for s in steps if s != "naive-nchw"]  # the optimisation steps, in order
                base = runs["naive"]
                prev = runs[ladder[max(0, ladder.index(step) - 1)]] if step in ladder else base
                row = {"test_images": runs[step]["result"]["n"], "step": step, "seconds": runs[step]["seconds"],
                       "peak_mib": runs[step]["peak_bytes"] / 2**20,
                       "speedup_vs_naive": base["seconds"] / runs[step]["seconds"],
                       "speedup_vs_previous": prev["seconds"] / runs[step]["seconds"],
                       "memory_vs_naive": runs[step]["peak_bytes"] / max(base["peak_bytes"], 1)}
                rows.append(row)
                print(f"{row['test_images']:>6} images  {step:<10} {row['seconds']:8.1f} s  ×{row['speedup_vs_naive']:5.2f} vs naive"
                      f"  ×{row['speedup_vs_previous']:5.2f} vs previous  peak {row['peak_mib']:7.1f} MiB"
                      f" (×{row['memory_vs_naive']:.2f} naive)  "
                      + ("NCHW rounding" if step == "naive-nchw" else "numbers identical"), flush=True)
    cfg = config.attack
    print(f"models: {', '.join(models)}; attacks {cfg.attacks}, {len(cfg.eps)} ε, batch {cfg.batch_size}, "
          f"I-FGSM {make_attack('ifgsm', cfg).settings.steps} steps, PGD {make_attack('pgd', cfg).settings.steps} steps; device {device}, torch threads {torch.get_num_threads()}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
