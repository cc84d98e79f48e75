"""The suite on a shared machine: wall time alone and beside other work, against its fair share (issues 23, 25).

    python bench/bench_contention.py                                   # tiny and quick, every case, this code
    python bench/bench_contention.py --ref 2ef6c10                     # and the code of that commit, in the same run
    python bench/bench_contention.py --old-env                         # and this code with ROBUSTNESS_OLD_THREADS=1
    python bench/bench_contention.py --presets tiny --cases alone,busy1 --run-args=--no-noise   # a short subset

Each case runs ``python run_all.py --preset P --quiet`` exactly as a user does (no thread variables set):

- ``alone``: by itself;
- ``busy1``, ``busy2``: beside K = 1, 2 single-threaded busy loops (``while True: pass``);
- ``twin``: beside a second copy of itself started at the same moment (both walls are printed);
- ``torch``: beside another torch program doing 256×256 matmuls on torch's default threads (and libgomp's
  default spinning wait) for as long as the run lasts.

Fair share: ``alone × (cores + K) / cores`` beside K busy loops; ``2 × alone`` beside a second program (two
programs, two equal shares). Target: wall at most 1.25 × the fair share. Each variant's own ``alone`` time
is its reference. Other processes on the machine disturb every figure: run it on an otherwise quiet machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("alone", "busy1", "busy2", "twin", "torch")
TARGET = 1.25
THREAD_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "ROBUSTNESS_OLD_THREADS")
BUSY = "while True: pass"
TORCH_LOAD = "import torch\na = torch.rand(256, 256)\nwhile True:\n    a @ a\n"


def clean_env(extra: dict | None = None) -> dict:
    """The environment of a user who set no thread variables, plus ``extra``."""
    return {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES} | (extra or {})


def export_ref(ref: str, into: Path) -> Path:
    """The tree of git ``ref`` unpacked into ``into`` (git archive: no worktree, nothing in .git changes)."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


def start_run(code: Path, env: dict, preset: str, out: Path, name: str, run_args: list[str]) -> subprocess.Popen:
    args = [sys.executable, str(code / "run_all.py"), "--preset", preset, "--quiet", "--out", str(out), "--run-id", name,
            *run_args]
    return subprocess.Popen(args, cwd=code, env=env | {"PYTHONPATH": str(code)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_run(proc: subprocess.Popen, started: float) -> float:
    _, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"bench_contention: a run failed ({proc.returncode}):\n{err[-2000:]}")
    return time.perf_counter() - started


def loads_for(case: str) -> list[list[str]]:
    """The background processes of a case (``twin`` starts its second copy itself)."""
    if case.startswith("busy"):
        return [[sys.executable, "-c", BUSY]] * int(case.removeprefix("busy"))
    if case == "torch":
        return [[sys.executable, "-c", TORCH_LOAD]]
    return []


def one_case(code: Path, env: dict, preset: str, case: str, work: Path, run_args: list[str]) -> list[float]:
    """Wall seconds of the run(s) of one case."""
    loads = [subprocess.Popen(cmd, env=clean_env(), stdout=subprocess.DEVNULL) for cmd in loads_for(case)]
    try:
        if loads:
            time.sleep(1.0)  # the load is running (and torch imported) before the run starts
        name = f"{preset}-{case}-{time.monotonic_ns()}"
        started = time.perf_counter()
        runs = [start_run(code, env, preset, work, f"{name}-{i}", run_args) for i in range(2 if case == "twin" else 1)]
        with ThreadPoolExecutor(len(runs)) as pool:  # each run's own end: a twin that ends first is not timed late
            return list(pool.map(lambda proc: wait_run(proc, started), runs))
    finally:
        for proc in loads:
            proc.kill()
            proc.wait()


def fair_share(alone: float, case: str, cores: int) -> float:
    if case.startswith("busy"):
        k = int(case.removeprefix("busy"))
        return alone * (cores + k) / cores
    return 2 * alone if case in ("twin", "torch") else alone


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="tiny,quick", help="comma-separated presets (default: tiny,quick)")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated cases, of {', '.join(CASES)} "
                   "(alone always runs first: it is every other case's reference)")
    p.add_argument("--ref", metavar="GITREF", help="also measure the code of this commit (e.g. 2ef6c10, the code before the fix)")
    p.add_argument("--old-env", action="store_true", help="also measure this code with ROBUSTNESS_OLD_THREADS=1 "
                   "(spinning OpenMP wait, torch's own thread count)")
    p.add_argument("--run-args", default="", help="extra run_all.py arguments for every run, e.g. --run-args=--no-noise")
    args = p.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    cases = ["alone", *[c for c in cases if c != "alone"]]
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bench-contention-") as tmp:
        work = Path(tmp)
        variants = {"new": (ROOT, clean_env())}
        if args.ref:
            variants[f"old ({args.ref})"] = (export_ref(args.ref, work / "ref"), clean_env())
        if args.old_env:
            variants["old (env switch)"] = (ROOT, clean_env({"ROBUSTNESS_OLD_THREADS": "1"}))
        print(f"{cores} CPUs in the affinity mask; load average before: {os.getloadavg()[0]:.2f}; "
              f"run_all.py args: {args.run_args or '(none)'}")
        print(f"{'preset':8} {'variant':22} {'case':6} {'wall s':>8} {'fair s':>8} {'ratio':>6}  target {TARGET}×fair")
        for preset in args.presets.split(","):
            alone = {}
            for case in cases:
                for variant, (code, env) in variants.items():  # variants interleaved, case by case
                    walls = one_case(code, env, preset, case, work / "out", args.run_args.split())
                    if case == "alone":
                        alone[variant] = walls[0]
                    fair = fair_share(alone[variant], case, cores)
                    for wall in walls:
                        verdict = "ok" if wall <= TARGET * fair else "SLOW"
                        print(f"{preset:8} {variant:22} {case:6} {wall:8.1f} {fair:8.1f} {wall / fair:6.2f}  {verdict}",
                              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
