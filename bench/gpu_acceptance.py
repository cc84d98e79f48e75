"""GPU acceptance run (issue 14): every number the `cifar10-fast` claims rest on, in one JSON.

    python bench/gpu_acceptance.py                                   # full CIFAR-10 on CUDA (needs a GPU)
    python bench/gpu_acceptance.py --dataset imagefolder:data/cifar10-jpeg
    python bench/gpu_acceptance.py --toy --out /tmp/toy.json         # CPU smoke run, well under a minute

What it measures, in this order, on one device (sections of the JSON):

    models       ERM and mixup (α = 1), seed 0, the preset's schedule: clean test accuracy,
                 training wall seconds, training throughput (img/s), peak GPU memory
    attacks      FGSM and PGD-10 at ε = 8/255, white box on the ERM model, through the
                 suite's transfer_matrix: test images/s, white-box error, peak GPU memory
    bf16_vs_fp32 ERM trained with precision "bf16" and "fp32" (same seed): both clean
                 errors and their difference (criterion: within 1 point on the full run)
    compile      ERM with torch.compile off and on: wall time, throughput, clean error,
                 and the first epoch's extra cost (mostly compiling)
    suite        the whole suite (run_suite with the same configuration): stage times
                 and wall time (target: ≤ 15 min on one GPU)

Training goes through robustness.train.fit, data through robustness.data.load and the
attacks through attacks.transfer_matrix, so what is measured is what the suite runs.
A run that would repeat an identical earlier one reuses it (on CUDA, "bf16" is the
default ERM run; on the CPU, "fp32" is) and says so ("same_run_as").

Throughput: fit evaluates the training and test sets after every epoch; that
evaluation is timed once on the trained model and subtracted, so img/s counts
training only. The first epoch carries one-time costs (moving the data, building
the model, compiling, CUDA kernel selection); img/s is recorded over all epochs and
over the epochs after the first. The JSON is rewritten after every section, so an
interrupted run keeps what it measured. Targets are checked and recorded, never
enforced: the script exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from attacks import transfer_matrix  # noqa: E402
from robustness.config import DataConfig, NoiseConfig, SuiteConfig, to_dict  # noqa: E402
from robustness.presets import PRESETS  # noqa: E402
from robustness.data import load  # noqa: E402
from robustness.errors import SuiteError  # noqa: E402
from robustness.methods import parse_method  # noqa: E402
from robustness.results import environment  # noqa: E402
from robustness.train import device_plan, epoch_errors, fit  # noqa: E402
from robustness.validation import check_data_fits, validate  # noqa: E402

# --- settings: everything the run depends on, in one place -----------------------------------

PRESET = "cifar10-fast"  # the preset whose claims this run checks
SEED = 0  # one seed per model: this is a measurement of the pipeline, not a study of seeds
METHODS = {"erm": "erm", "mixup": "mixup:1"}  # JSON key -> method spec (mixup α = 1, the paper's CIFAR-10 value)
ATTACK_EPS = 8 / 255  # L∞ radius of the attack throughput, pixels in [0, 1] (the usual CIFAR-10 radius)
PGD_STEPS = 10  # PGD-10, random start, step 2.5·ε/10 (the preset's step factor)
TARGETS = {
    "erm_clean_accuracy_min": 0.93,  # fraction of the CIFAR-10 test set; the preset's design target
    "bf16_fp32_difference_max_points": 1.0,  # |clean error bf16 − fp32|, percentage points
    "suite_seconds_max": 15 * 60,  # the whole cifar10-fast suite on one GPU, wall seconds
}
MIB = 2**20  # bytes per MiB, for peak memory

# --toy: the same sections at sizes a 1-thread CPU runs in seconds. Numbers mean nothing; the
# run checks that every section works and writes every key. Three epochs, so that "after the
# first epoch" exists and ERM gets well above chance (~70% on 1 CPU thread). 512 training
# images = 16 full batches of 32: no ragged last batch, so torch.compile compiles once (a
# ragged batch costs a second compile, ~20 s on a CPU).
TOY_DATA = DataConfig(name="digits", train_subset=512, test_subset=200)  # 8×8 digits, no download
TOY_TRAIN = dict(arch="digits_cnn", epochs=3, batch_size=32, lr=0.2,  # one-cycle peak lr, for batch 32
                 crop_padding=1)  # crop + flip stays on (the full run's path); 4 pixels of padding would swamp 8×8 images
# Suite section only; PGD stays 10 steps. The preset's standard AutoAttack at the headline ε runs at a toy budget.
TOY_ATTACK = dict(batch_size=100, between_pairs=50, settings={"ifgsm": {"steps": 3}, "pgd": {"steps": 3},
                                                              "autoattack": {"steps": 3, "queries": 30}})
TOY_SUITE_NOISE = NoiseConfig(levels=(0.5,), methods=("erm", "mixup:8"), epochs=2)


def log(message: str) -> None:
    """Progress goes to stderr; stdout is kept for the JSON path and the summary table."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- configuration -----------------------------------------------------------------------------


def build_config(args, device: torch.device) -> SuiteConfig:
    """The preset, or its toy version, with --dataset / --data-root / --epochs applied; names and values checked."""
    config = PRESETS[PRESET]
    train, data = config.train, config.data
    attack, noise = config.attack, config.noise
    if args.toy:
        data = TOY_DATA
        toy_train = dict(TOY_TRAIN)
        if args.dataset and args.dataset != "digits":
            toy_train["arch"] = "fast_resnet_small"  # digits_cnn is built for 8×8 grey images
            toy_train["crop_padding"] = train.crop_padding
        train = replace(train, **toy_train)
        attack = replace(attack, **TOY_ATTACK, eps=(0.0, ATTACK_EPS), heatmap_eps=ATTACK_EPS)
        noise = TOY_SUITE_NOISE
    if args.dataset:
        data = replace(data, name=args.dataset)
    if args.data_root:
        data = replace(data, root=args.data_root)
    if args.epochs:
        train = replace(train, epochs=args.epochs)
        noise = replace(noise, epochs=args.epochs)
    config = replace(config, device=device.type, data=data, train=train, attack=attack, noise=noise)
    validate(config)
    return config


def pick_device(args) -> torch.device:
    """CUDA whenever present (--device cpu forces the CPU); without it, only --toy runs."""
    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SuiteError("--device cuda was asked for but CUDA is not available here; use --toy (on the CPU)")
    if not cuda and not args.toy:
        raise SuiteError("the GPU acceptance run needs a CUDA GPU and none is available here; "
                         "pass --toy for the CPU smoke run")
    return torch.device("cuda" if cuda else "cpu")


# --- measuring -------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    """Start a peak-memory measurement: what earlier sections cached is released first."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    """torch.cuda.max_memory_allocated since reset_peak, in MiB; None on the CPU (not measured there)."""
    if device.type != "cuda":
        return None
    synchronize(device)
    return round(torch.cuda.max_memory_allocated(device) / MIB, 1)


def rate(images: int, seconds: float) -> float | None:
    return round(images / seconds, 1) if seconds > 0 else None


def train_one(split, method: str, train_config, device: torch.device, label: str) -> tuple[dict, torch.nn.Module]:
    """One fit of ``method`` (seed SEED) with timings, throughput and peak memory; returns (record, model)."""
    n_train = len(split.train_y)
    plan = device_plan(train_config, device)
    log(f"training {label}: {method}, {train_config.arch}, {train_config.epochs} epochs, {n_train} images, "
        f"{str(plan.autocast_dtype or 'fp32').removeprefix('torch.')}, {'channels_last' if plan.memory_format == torch.channels_last else 'NCHW'}, "
        f"compile={'on' if plan.compile else 'off'}")
    reset_peak(device)
    stamps: list[float] = []

    def on_epoch(row: dict) -> None:
        synchronize(device)  # fit's evaluation already waits for the device; this makes it explicit
        stamps.append(time.perf_counter())
        log(f"  {label} epoch {row['epoch']}/{train_config.epochs}: test error {row['test_error']:.4f}, loss {row['loss']:.4f}")

    start = time.perf_counter()
    trained = fit(train_config.arch, parse_method(method), split, SEED, train_config, device, on_epoch=on_epoch)
    peak = peak_mib(device)
    epoch_seconds = [b - a for a, b in zip([start, *stamps], stamps)]
    eval_seconds = evaluation_seconds(trained.model, split, device)
    train_only = [max(s - eval_seconds, 1e-9) for s in epoch_seconds]
    later = train_only[1:]
    first_extra = epoch_seconds[0] - statistics.mean(epoch_seconds[1:]) if len(epoch_seconds) > 1 else None
    test_error = trained.history[-1]["test_error"]
    record = {
        "method": method,
        "seed": SEED,
        "precision": str(plan.autocast_dtype or "fp32").removeprefix("torch."),
        "channels_last": plan.memory_format == torch.channels_last,
        "compile": plan.compile,
        "clean_accuracy": 1 - test_error,
        "clean_error": test_error,
        "test_error_per_epoch": [row["test_error"] for row in trained.history],
        "train_seconds": round(trained.seconds, 3),  # fit's wall time: data to device, model, every epoch and its evaluation
        "epoch_seconds": [round(s, 3) for s in epoch_seconds],  # per epoch incl. its evaluation; the first incl. setup
        "eval_seconds_per_epoch": round(eval_seconds, 3),  # fit's per-epoch evaluation, timed once after training
        "train_img_per_s": rate(n_train * len(train_only), sum(train_only)),  # all epochs, evaluation subtracted
        "train_img_per_s_after_first_epoch": rate(n_train * len(later), sum(later)) if later else None,
        "first_epoch_extra_seconds": None if first_extra is None else round(first_extra, 3),
        "peak_gpu_memory_mib": peak,
    }
    log(f"  {label}: clean accuracy {record['clean_accuracy']:.4f}, {trained.seconds:.1f} s, "
        f"{record['train_img_per_s']} img/s")
    return record, trained.model


def evaluation_seconds(model: torch.nn.Module, split, device: torch.device) -> float:
    """Wall time of the evaluation fit runs after every epoch (robustness.train.epoch_errors), on this model."""
    train_x, train_y = split.train_images.to(device), split.train_y.to(device)
    test_x, test_y = split.test_images.to(device), split.test_y.to(device)
    synchronize(device)
    start = time.perf_counter()
    epoch_errors(model, train_x, train_y, train_y, test_x, test_y, None)
    synchronize(device)
    return time.perf_counter() - start


def attack_throughput(model: torch.nn.Module, split, config: SuiteConfig, device: torch.device) -> dict:
    """FGSM and PGD-10 at ATTACK_EPS through transfer_matrix, white box on ``model``: test images/s."""
    x, y = split.test_x, split.test_y
    section: dict = {"eps": ATTACK_EPS, "eps_text": "8/255", "n_test": len(y), "batch_size": config.attack.batch_size,
                     "target_model": "erm"}
    for name in ("fgsm", "pgd"):
        attack = replace(config.attack, attacks=(name,), eps=(ATTACK_EPS,), heatmap_eps=ATTACK_EPS).tune("pgd", steps=PGD_STEPS)
        warm = slice(0, attack.batch_size)  # one batch untimed: kernel selection and allocator warm-up
        transfer_matrix({"erm": model}, x[warm], y[warm], attack, device, progress=False)
        reset_peak(device)
        start = time.perf_counter()
        result = transfer_matrix({"erm": model}, x, y, attack, device, progress=False)
        synchronize(device)
        seconds = time.perf_counter() - start
        cell = result["cells"][0]
        section[name] = {
            "steps": 1 if name == "fgsm" else PGD_STEPS,
            "seconds": round(seconds, 3),
            "img_per_s": rate(len(y), seconds),
            "white_box_error": cell["error"],
            "clean_error": result["clean"]["erm"]["error"],  # the same model's clean error, measured by the attack stage
            "peak_gpu_memory_mib": peak_mib(device),
        }
        log(f"attack {name}: {section[name]['img_per_s']} img/s, white-box error {cell['error']:.4f}")
    return section


def same_settings(a, b, device: torch.device) -> bool:
    """Two training configurations that train identically on ``device`` (e.g. "auto" and "bf16" on CUDA)."""
    return a == b or (replace(a, precision="auto", channels_last="auto") == replace(b, precision="auto", channels_last="auto")
                      and device_plan(a, device) == device_plan(b, device))


def variant(split, base_train, changes: dict, device: torch.device, label: str, reference: dict) -> dict:
    """ERM with ``changes``; reuses the main ERM run (``reference``) when the settings are the same there."""
    train = replace(base_train, **changes)
    if same_settings(train, base_train, device):
        log(f"{label}: identical to the main ERM run on {device.type}; reusing it")
        return {**reference, "same_run_as": "models.erm"}
    record, _ = train_one(split, "erm", train, device, label)
    return {**record, "same_run_as": None}


def precision_section(split, train, device: torch.device, erm: dict, toy: bool) -> dict:
    runs = {p: variant(split, train, {"precision": p}, device, f"erm {p}", erm) for p in ("bf16", "fp32")}
    points = 100 * (runs["bf16"]["clean_error"] - runs["fp32"]["clean_error"])
    limit = TARGETS["bf16_fp32_difference_max_points"]
    return {
        **runs,
        "difference_points": round(points, 3),  # bf16 − fp32 clean error, percentage points
        "criterion": f"|bf16 − fp32| ≤ {limit:g} point on the full run",
        "pass": abs(points) <= limit,
        "meaningful": not toy,  # a toy run's errors are too noisy for a 1-point criterion
    }


def compile_section(split, train, device: torch.device, erm: dict, skip: bool) -> dict:
    if skip:
        return {"skipped": "--skip-compile was given"}
    off = variant(split, train, {"compile": False}, device, "erm compile off", erm)
    try:
        on = variant(split, train, {"compile": True}, device, "erm compile on", erm)
    except Exception as err:  # a missing compiler or an unsupported op: record why instead of losing the run
        log(f"torch.compile failed: {type(err).__name__}: {err}")
        return {"off": off, "skipped": f"torch.compile failed: {type(err).__name__}: {str(err).splitlines()[0][:300]}"}
    later_off, later_on = off["train_img_per_s_after_first_epoch"], on["train_img_per_s_after_first_epoch"]
    return {
        "off": off,
        "on": on,
        "speedup_after_first_epoch": round(later_on / later_off, 3) if later_off and later_on else None,
        "wall_ratio_on_over_off": round(on["train_seconds"] / off["train_seconds"], 3),
        # Compiling happens in the first epoch: its cost is estimated as the first epoch's extra seconds
        # (over the later epochs' mean) with compile on, minus the same without. Inductor caches compiled
        # kernels on disk (TORCHINDUCTOR_CACHE_DIR), so a second run on a machine compiles much faster.
        "compile_seconds_estimate": (round(on["first_epoch_extra_seconds"] - off["first_epoch_extra_seconds"], 3)
                                     if on["first_epoch_extra_seconds"] is not None else None),
    }


def suite_section(config: SuiteConfig, out: Path, device: torch.device, toy: bool) -> dict:
    """The whole suite with this configuration (every model, attack and noise run), timed from data to report."""
    from robustness.suite import run_suite  # imported here: matplotlib and the report only load when used

    log(f"whole suite ({config.preset}{', toy' if toy else ''}) into {out.parent}/gpu-acceptance-suite-*")
    start = time.perf_counter()
    run_dir = run_suite(replace(config, out=str(out.parent)), progress=sys.stderr.isatty(), prefix="gpu-acceptance-suite")
    seconds = time.perf_counter() - start
    results = json.loads((run_dir / "results.json").read_text())
    clean = {name: 1 - rec["clean_error"] for name, rec in results["models"].items() if rec.get("clean_error") is not None}
    log(f"whole suite: {seconds:.1f} s")
    return {
        "run_dir": str(run_dir),
        "wall_seconds": round(seconds, 3),  # run_suite: data, every stage, results.json and the report
        "stages_s": {k: round(v, 3) for k, v in results["timing"]["stages_s"].items()},
        "clean_accuracy": clean,
    }


# --- the run ---------------------------------------------------------------------------------


def write(path: Path, report: dict) -> None:
    """Atomically, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def device_record(device: torch.device) -> dict:
    env = environment(device)
    name = env["device_name"] if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()}, " \
                                                             f"{os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    return {"type": device.type, "name": name, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None, "environment": env}


def targets(report: dict, toy: bool) -> dict:
    erm_accuracy = report["models"]["erm"]["clean_accuracy"]
    precision = report.get("bf16_vs_fp32") or {}
    suite = report.get("suite") or {}
    checks = {
        "erm_clean_accuracy": {"target": f"≥ {TARGETS['erm_clean_accuracy_min']}", "value": erm_accuracy,
                               "met": erm_accuracy >= TARGETS["erm_clean_accuracy_min"]},
        "bf16_vs_fp32_points": {"target": f"≤ {TARGETS['bf16_fp32_difference_max_points']}",
                                "value": precision.get("difference_points"), "met": precision.get("pass")},
        "suite_seconds": {"target": f"≤ {TARGETS['suite_seconds_max']}", "value": suite.get("wall_seconds"),
                          "met": None if "wall_seconds" not in suite else suite["wall_seconds"] <= TARGETS["suite_seconds_max"]},
    }
    return {"apply": not toy, "note": "toy run: targets are for the full cifar10-fast run on a GPU" if toy else
            "recorded, not enforced", **checks}


def summary(report: dict) -> str:
    """A short table for people; every number is also in the JSON."""
    def mem(v):
        return "n/a (CPU)" if v is None else f"{v:.0f} MiB"

    rows = ["| run | clean acc. | train s | img/s (all / after 1st epoch) | peak GPU mem. |", "|---|---|---|---|---|"]
    entries = [(k, v) for k, v in report["models"].items()]
    for key in ("bf16", "fp32"):
        entry = report["bf16_vs_fp32"][key]
        if not entry.get("same_run_as"):
            entries.append((f"erm {key}", entry))
    compiled = report["compile"]
    if "on" in compiled:
        entries.append(("erm compile on", compiled["on"]))
    for name, r in entries:
        rows.append(f"| {name} | {r['clean_accuracy']:.4f} | {r['train_seconds']:.1f} | {r['train_img_per_s']} / "
                    f"{r['train_img_per_s_after_first_epoch']} | {mem(r['peak_gpu_memory_mib'])} |")
    attacks = report["attacks"]
    rows.append("")
    rows.append(f"attacks at ε = 8/255 on {attacks['n_test']} test images: FGSM {attacks['fgsm']['img_per_s']} img/s, "
                f"PGD-{PGD_STEPS} {attacks['pgd']['img_per_s']} img/s")
    p = report["bf16_vs_fp32"]
    rows.append(f"bf16 − fp32 clean error: {p['difference_points']:+.2f} points ({'pass' if p['pass'] else 'FAIL'}"
                f"{'' if p['meaningful'] else ', toy: not meaningful'})")
    rows.append("compile: " + (f"skipped ({compiled['skipped']})" if "on" not in compiled else
                               f"speed-up after the first epoch {compiled['speedup_after_first_epoch']}×, "
                               f"compile ≈ {compiled['compile_seconds_estimate']} s"))
    if report.get("suite") and "wall_seconds" in report["suite"]:
        rows.append(f"whole suite: {report['suite']['wall_seconds']:.1f} s")
    rows.append(f"total: {report['total_seconds']:.1f} s on {report['device']['name']}")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="the JSON file to write (default: reports/gpu-acceptance-<date>-<time>.json)")
    parser.add_argument("--dataset", help=f"data set (default: the {PRESET} preset's cifar10; toy: digits), "
                                          "e.g. imagefolder:data/cifar10-jpeg")
    parser.add_argument("--data-root", help="where torchvision's data sets live (default: data)")
    parser.add_argument("--toy", action="store_true", help="tiny sizes that run on a CPU in seconds; numbers mean nothing")
    parser.add_argument("--epochs", type=int, help=f"training epochs (default: the preset's 24; toy: {TOY_TRAIN['epochs']})")
    parser.add_argument("--skip-compile", action="store_true", help="leave out the torch.compile comparison")
    parser.add_argument("--skip-suite", action="store_true", help="leave out the whole-suite run")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto: CUDA when present; the CPU only with --toy")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if args.epochs is not None and args.epochs < 1:
            raise SuiteError("--epochs must be at least 1")
        device = pick_device(args)
        config = build_config(args, device)
        out = Path(args.out or f"reports/gpu-acceptance-{datetime.now():%Y%m%d-%H%M%S}.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        log(f"data: {config.data.name} (root {config.data.root})")
        clock = time.perf_counter()
        split = load(config.data)
        data_seconds = time.perf_counter() - clock
        check_data_fits(config, split)
    except SuiteError as err:
        print(f"gpu_acceptance: {err}", file=sys.stderr)
        return 2
    if device.type == "cuda":
        torch.empty(1, device=device)  # CUDA context created here, outside every timing
    report: dict = {
        "kind": "gpu-acceptance",
        "toy": args.toy,
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": device_record(device),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "config": to_dict(config),
        "data": split.summary() | {"load_seconds": round(data_seconds, 3)},
        "targets_set": TARGETS,
        "peak_gpu_memory_note": ("torch.cuda.max_memory_allocated, reset before each measurement, MiB"
                                 if device.type == "cuda" else "null: measured on CUDA only (this run is on the CPU)"),
        "throughput_note": ("img/s counts training only: fit's per-epoch evaluation is timed once and subtracted; "
                            "the first epoch includes setup and compiling"),
        "models": {},
    }
    log(f"device: {report['device']['name']}; out: {out}")
    train = config.train

    erm, model = train_one(split, METHODS["erm"], train, device, "erm")
    report["models"]["erm"] = erm
    report["attacks"] = attack_throughput(model, split, config, device)  # right away, so the model can go
    del model
    write(out, report)
    report["models"]["mixup"], _ = train_one(split, METHODS["mixup"], train, device, "mixup")
    write(out, report)
    report["bf16_vs_fp32"] = precision_section(split, train, device, erm, args.toy)
    write(out, report)
    report["compile"] = compile_section(split, train, device, erm, args.skip_compile)
    write(out, report)
    report["suite"] = {"skipped": "--skip-suite was given"} if args.skip_suite else suite_section(config, out, device, args.toy)
    report["total_seconds"] = round(time.perf_counter() - started, 3)
    report["targets"] = targets(report, args.toy)
    write(out, report)
    print(out)
    print(summary(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
