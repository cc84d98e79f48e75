"""``python -m robustness report RUN_DIR``: rebuild figures and report from results.json alone.
``python -m robustness leaderboard FOLDER``: every model of every run under FOLDER on one HTML page.
``python -m robustness benchmark --model NAME=SPEC``: RobustBench's clean and AutoAttack accuracy of a checkpoint."""

import argparse
import sys
from pathlib import Path

from robustness.api import benchmark, write_benchmark
from robustness.cli import add_process_flags, stop_status
from robustness.errors import SuiteError
from robustness.formatting import eps_label
from robustness.leaderboard import build_leaderboard
from robustness.presets import BENCHMARK_ATTACK, BENCHMARK_IMAGES
from robustness.report import build_report
from robustness.results import has_marker, read_results, remove_stray_temps, write_marker
from robustness.suite import check_run_dir, run_suite, saved_config
from robustness.units import run_lock


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m robustness")
    sub = p.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="rebuild figures, report.md and report.html of a run from its results.json")
    rep.add_argument("run_dir")
    board = sub.add_parser("leaderboard", help="one self-contained, sortable HTML page comparing every model of every "
                           "run under a folder")
    board.add_argument("root", help="the folder that holds the runs, e.g. reports")
    board.add_argument("--out", help="where to write the page (default: ROOT/leaderboard.html)")
    add_benchmark_parser(sub)
    args = p.parse_args(argv)
    if args.command == "leaderboard":
        return leaderboard(args.root, args.out)
    if args.command == "benchmark":
        return run_benchmark(args)
    try:
        path = report(Path(args.run_dir))
    except SuiteError as err:
        print(f"python -m robustness: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # files are replaced atomically: the old report, or the new one
        print("python -m robustness: interrupted; the run directory is unchanged apart from finished figures; "
              f"rerun python -m robustness report {args.run_dir}", file=sys.stderr)
        return 130
    print(f"report: {path}")
    return 0


def report(run_dir: Path) -> Path:
    """Rebuild a run's report. Only in a run directory this suite wrote: one with its marker, or (written before
    the marker existed) whose results.json passes the whole check, which then gets the marker."""
    if not has_marker(run_dir):
        read_results(run_dir)  # one line naming what is missing or the first bad field; nothing written yet
    check_run_dir(run_dir, "pass a run directory written by run_all.py")
    with run_lock(run_dir):  # first: a run that holds the directory may not have written results.json yet
        write_marker(run_dir)
        remove_stray_temps(run_dir)
        return build_report(run_dir)


def leaderboard(root: str, out: str | None) -> int:
    try:
        path = build_leaderboard(root, out)
    except SuiteError as err:
        print(f"python -m robustness: error: {err}", file=sys.stderr)
        return 2
    print(f"leaderboard: {path}")
    return 0


BENCHMARK = "python -m robustness benchmark"


def add_benchmark_parser(sub) -> None:
    bench = sub.add_parser("benchmark", help="RobustBench's benchmark of one checkpoint: clean accuracy and AutoAttack "
                           "robust accuracy on the first N test images, written as benchmark.json beside results.json "
                           "and the report (docs/benchmark.md)")
    bench.add_argument("--model", metavar="NAME=SPEC", help="the checkpoint, as run_all.py --model takes it: NAME=FILE.pt2, "
                       "NAME=FILE (TorchScript), NAME=ARCH:STATE.pt or NAME=pkg.module:factory:STATE.pt, options "
                       ",norm=none|data ,mean=A/B/C,std=A/B/C (docs/custom-models.md)")
    bench.add_argument("--dataset", default="cifar10", metavar="NAME", help="data set (default: cifar10)")
    bench.add_argument("--threat-model", default="Linf", metavar="Linf|L2", help="threat model (default: Linf)")
    bench.add_argument("--eps", metavar="EPS", help="radius, e.g. 8/255 (default: 8/255 for Linf, 0.5 for L2)")
    bench.add_argument("--n-examples", type=int, default=BENCHMARK_IMAGES, metavar="N",
                       help=f"the first N test images (default: {BENCHMARK_IMAGES}, RobustBench's)")
    bench.add_argument("--seed", type=int, default=0, help="AutoAttack's seed (attack.seed; default 0)")
    bench.add_argument("--attack", default=BENCHMARK_ATTACK, metavar="NAME",
                       help=f"the AutoAttack variant (default: {BENCHMARK_ATTACK}, the standard version)")
    bench.add_argument("--batch-size", type=int, metavar="N", help="images per batch and per saved unit (default: 256)")
    bench.add_argument("--data-root", metavar="DIR", help="folder of torchvision's data sets (default: data)")
    bench.add_argument("--out", default="reports", help="directory that receives <run-id>/ (default: reports)")
    bench.add_argument("--run-id", help="name of the run directory (default: benchmark-<date>-<time>); an existing one "
                       "is resumed: its finished batches are reused")
    bench.add_argument("--resume", metavar="RUN_DIR", help="finish the benchmark run in RUN_DIR with the configuration "
                       "it was started with")
    bench.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto = CUDA when available")
    bench.add_argument("--trust-checkpoint", action="store_true",
                       help="allow a checkpoint that is an arbitrary pickle (loading it runs code from the file)")
    add_process_flags(bench)


def run_benchmark(args: argparse.Namespace) -> int:
    """The benchmark command: 0 with the numbers printed, 2 after a one-line error, 130 when interrupted."""
    try:
        if args.resume:
            if args.model or args.run_id:
                raise SuiteError("--resume takes the model and configuration of the run it resumes; drop --model and --run-id")
            config = saved_config(args.resume, {"threads": args.threads} if args.threads else {})
            if config.preset != "benchmark" or len(config.models) != 1:
                raise SuiteError(f"{args.resume} is not a benchmark run of one checkpoint; resume it with run_all.py --resume")
            run_dir = run_suite(config, progress=not args.quiet, run_dir=args.resume, trust_checkpoint=args.trust_checkpoint)
            result = write_benchmark(run_dir, config.models[0].partition("=")[0])
        else:
            if not args.model or "=" not in args.model:
                raise SuiteError("benchmark needs --model NAME=SPEC, e.g. --model mine=net.pt2 (docs/custom-models.md)")
            name, _, spec = args.model.partition("=")
            result = benchmark(spec, args.n_examples, args.dataset, args.threat_model, eps=args.eps, model_name=name,
                               seed=args.seed, attack=args.attack, batch_size=args.batch_size, data_root=args.data_root,
                               out=args.out, run_id=args.run_id, device=args.device, threads=args.threads or 0,
                               trust_checkpoint=args.trust_checkpoint, progress=not args.quiet)
    except (SuiteError, KeyboardInterrupt) as stop:  # RunStopped is a SuiteError
        return stop_status(stop, BENCHMARK)
    record = result.record
    print(f"benchmark: {result.run_dir / 'benchmark.json'} (report: {result.run_dir / 'report.md'})")
    print(f"  {record['name']} on the first {record['n_examples']:,} {record['dataset']} test images, "
          f"{record['threat_model']} ε = {eps_label(record['eps'], record['threat_model'])}: clean accuracy "
          f"{record['clean_acc']}%, AutoAttack robust accuracy {record['autoattack_acc']}% ({record['autoattack_variant']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
