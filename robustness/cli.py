"""Command line of run_all.py: flags -> SuiteConfig -> run_suite -> headline numbers."""

from __future__ import annotations

import argparse
import shlex
import sys

from attacks import settings_help
from robustness.config import check_run_id, nest
from robustness.errors import SuiteError, warn
from robustness.executors import EXECUTORS
from robustness.presets import PRESETS
from robustness.report import chance_warnings, headline
from robustness.results import read_results
from robustness.suite import RunStopped, run_suite, saved_config
from robustness.validation import load_config


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_all.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the epilog is a table: keep its lines
        epilog=settings_help(),
        description="Train ERM and mixup models, attack them (white box and every transfer direction), "
        "run the corrupted-label benchmark, and write results.json, figures and a report. "
        "Precedence: preset < --config TOML < flags.",
    )
    add_run_flags(p, run_id="<preset>-<date>-<time>", reused="its finished models and attack cells")
    p.add_argument("--seeds", type=int, nargs="+", metavar="N", help="seeds of the clean models, e.g. --seeds 0 1 2")
    p.add_argument("--noise-seeds", type=int, nargs="+", metavar="N", help="seeds of the label-noise runs")
    p.add_argument("--epochs", type=int, help="epochs of clean training")
    p.add_argument("--noise-epochs", type=int, help="epochs of each label-noise run")
    p.add_argument("--eps", nargs="+", metavar="EPS", help="attack radii in [0, 1] or as pixel fractions, e.g. 0 2/255 0.05")
    p.add_argument("--heatmap-eps", metavar="EPS", help="the ε (one of --eps) at which transfer matrices are shown")
    p.add_argument("--dataset", metavar="NAME", help="cifar10, cifar100, mnist, fashion-mnist, digits or imagefolder:PATH")
    p.add_argument("--data-root", metavar="DIR", help="folder of torchvision's data sets (default: data)")
    p.add_argument("--train-subset", type=int, metavar="N", help="train on a stratified, seeded subset of N images")
    p.add_argument("--test-subset", type=int, metavar="N", help="evaluate on a stratified, seeded subset of N images")
    p.add_argument("--skip-bad-images", action="store_true", default=None,
                   help="imagefolder: leave out images that cannot be read (a warning names them) instead of stopping")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model for training (CUDA)")
    p.add_argument("--no-noise", action="store_true", help="skip the label-noise benchmark")
    p.add_argument("--model", action="append", metavar="NAME=SPEC",
                   help="also evaluate a checkpoint (repeatable): NAME=FILE.pt2 (torch.export), NAME=FILE (TorchScript), "
                        "NAME=ARCH:STATE.pt (e.g. digits_cnn:reports/RUN/models/erm_s0.pt) or NAME=pkg.module:factory:STATE.pt; "
                        "options ,norm=none|data ,mean=A/B/C,std=A/B/C ,family=NAME")
    p.add_argument("--no-train", action="store_true",
                   help="train nothing: evaluate only the --model checkpoints (the label-noise benchmark is skipped)")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow checkpoints that are arbitrary pickles (torch.load(weights_only=False) runs code from the file)")
    p.add_argument("--executor", choices=EXECUTORS, default="auto",
                   help="where units of work run. auto (default): in this process, one after another, and while other "
                        "processes fill the CPUs in one-thread worker processes, one per thread it chose; in-process: always "
                        "here; processes: always in worker processes; ray: as Ray tasks (one GPU each on CUDA; needs "
                        "pip install -e '.[ray]')")
    p.add_argument("--ray-address", metavar="auto|ADDRESS",
                   help="with --executor ray: an existing cluster ('auto', or host:port); default: a local Ray instance")
    add_process_flags(p)
    return p


def add_run_flags(p: argparse.ArgumentParser, run_id: str, reused: str) -> None:
    """The flags that choose the configuration and the run directory, the same in run_all.py and ``python -m noise``:
    --preset, --config, --out, --run-id, --resume, --device. ``run_id`` is the default run directory's name,
    ``reused`` what a rerun of an existing one keeps (e.g. "its finished runs")."""
    p.add_argument("--preset", metavar="NAME",
                   help=f"named configuration: {', '.join(PRESETS)} (default: quick, or the TOML's 'preset')")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file whose keys override the preset (see README)")
    p.add_argument("--out", help="directory that receives <run-id>/ (default: reports)")
    p.add_argument("--run-id", help=f"name of the run directory (default: {run_id}); an existing "
                   f"run directory of that name is resumed: {reused} are reused")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="finish the run in RUN_DIR (e.g. reports/<run-id>) with the configuration it was started "
                        "with; flags given too override it, and only what they change is recomputed")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="auto = CUDA when available (default: auto)")


def add_process_flags(p: argparse.ArgumentParser) -> None:
    """--threads and --quiet, the same in both commands (added last, so they end --help)."""
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch threads and attack worker threads (default: OMP_NUM_THREADS, else the CPUs this process "
                        "may use: affinity mask and cgroup quota)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def shared_overrides(args: argparse.Namespace) -> dict[tuple[str, ...], object]:
    """The shared flags that are configuration keys (--out, --device, --threads), as ``nest`` takes them."""
    return {("out",): args.out, ("device",): args.device, ("threads",): args.threads}


def flags_to_overrides(args: argparse.Namespace) -> dict:
    """The flags that were given, as a nested dict of config overrides."""
    pairs = shared_overrides(args) | {
        ("clean", "seeds"): args.seeds,
        ("noise", "seeds"): args.noise_seeds, ("train", "epochs"): args.epochs,
        ("noise", "epochs"): args.noise_epochs, ("attack", "eps"): args.eps,
        ("attack", "heatmap_eps"): args.heatmap_eps, ("noise", "enabled"): False if args.no_noise else None,
        ("data", "name"): args.dataset, ("data", "root"): args.data_root, ("data", "train_subset"): args.train_subset,
        ("data", "test_subset"): args.test_subset, ("data", "skip_bad_images"): args.skip_bad_images,
        ("train", "compile"): args.compile,
        ("models",): args.model, ("clean", "enabled"): False if args.no_train else None,
    }
    if args.no_train:  # "only the given checkpoints": the label-noise benchmark would train models
        pairs[("noise", "enabled")] = False
    return nest(pairs)


def run_options(args: argparse.Namespace) -> dict:
    """The flags that say how to run, not what to compute (they are not part of the configuration)."""
    if args.ray_address and args.executor != "ray":
        raise SuiteError("--ray-address needs --executor ray")
    return {"trust_checkpoint": args.trust_checkpoint, "executor": args.executor, "ray_address": args.ray_address}


INTERRUPTED = 130  # the shell's status for a process ended by SIGINT (128 + 2)


def stopped_line(stop: RunStopped, prog: str) -> str:
    """One line for a run that stopped after its directory was opened: what is kept, and the exact command to finish it."""
    command = f"{'python ' if prog.endswith('.py') else ''}{prog} --resume {shlex.quote(str(stop.run_dir))}"
    if stop.interrupted:
        return f"interrupted; {stop.kept()}: resume with {command}"
    return f"error: {stop.reason}; {stop.kept()}: once the cause is fixed, resume with {command}"


def stop_status(stop: BaseException, prog: str) -> int:
    """Print the one line for a run that stopped (a ``RunStopped``, a ``SuiteError`` or Ctrl-C before the run
    directory was opened, when nothing was written) and return the exit status: 2, or 130 when interrupted."""
    if isinstance(stop, RunStopped):
        print(f"{prog}: {stopped_line(stop, prog)}", file=sys.stderr)
        return INTERRUPTED if stop.interrupted else 2
    if isinstance(stop, SuiteError):
        print(f"{prog}: error: {stop}", file=sys.stderr)
        return 2
    print(f"{prog}: interrupted before the run started; nothing was written", file=sys.stderr)
    return INTERRUPTED


def start(args: argparse.Namespace, overrides: dict, prog: str, prefix: str | None = None, **options) -> int:
    """Build the configuration (or take a resumed run's), run the pipeline, print the report's path and the
    headline numbers; 0, or 2 after a one-line error. Shared by run_all.py and ``python -m noise``."""
    try:
        if args.run_id:
            check_run_id(args.run_id)
        if args.resume:
            if args.preset or args.config or args.out or args.run_id:
                raise SuiteError("--resume takes the configuration and place of the run it resumes; "
                                 "drop --preset, --config, --out and --run-id")
            config = saved_config(args.resume, overrides)
            run_dir = run_suite(config, progress=not args.quiet, run_dir=args.resume, **options)
        else:
            config = load_config(args.preset, args.config, overrides)
            run_dir = run_suite(config, run_id=args.run_id, progress=not args.quiet, prefix=prefix, **options)
        results = read_results(run_dir)
    except (SuiteError, KeyboardInterrupt) as stop:  # RunStopped is a SuiteError
        return stop_status(stop, prog)
    for line in chance_warnings(results):
        warn(line)
    print(f"report: {run_dir / 'report.md'} (and report.html)")
    for line in headline(results):
        print("  " + line)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        options = run_options(args)
    except SuiteError as err:
        print(f"run_all.py: error: {err}", file=sys.stderr)
        return 2
    return start(args, flags_to_overrides(args), "run_all.py", **options)
