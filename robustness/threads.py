"""How many threads this process runs, and how its OpenMP threads wait: sized to the CPUs it may use.

Why: torch's thread pool is sized from the machine's core count, and its OpenMP threads (libgomp)
spin for about 300,000 iterations at the end of every parallel region before they sleep. Beside
other busy processes that is a collapse, not a slowdown: a spinning thread holds a core the other
thread of its own region needs, so every small operation waits for a descheduled thread. Measured on
2 cores beside about 9 other runnable processes (docs/benchmarks.md): one gradient pass of
digits_cnn on 64 images took 167 ms on 2 threads with libgomp's default wait policy, 18 ms on one
thread, and 11 ms on 2 threads with ``OMP_WAIT_POLICY=PASSIVE``.

So the entry points call ``passive_openmp()`` before torch is first imported (libgomp reads its
environment once, when it loads); it makes waiting threads sleep when the machine is already busy at
start (on an idle machine spinning is faster), and the pipeline sizes torch's threads with ``choose_threads``:
``--threads`` / the ``threads`` field, else ``OMP_NUM_THREADS``, else the CPUs of the affinity mask,
capped by a cgroup CPU quota (a container's ``--cpus``). A user's own ``OMP_WAIT_POLICY``,
``GOMP_SPINCOUNT``, ``OMP_NUM_THREADS`` or ``--threads`` always wins.

This module imports no torch, so that an entry point can use it before torch loads.

Example::

    passive_openmp()                  # first, before `import torch`
    choice = choose_threads(0)        # ThreadChoice(count=2, source="affinity", reason="2 CPUs in ...", openmp_wait="PASSIVE")
    torch.set_num_threads(choice.count)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # either one given: the user chose how OpenMP waits
BUSY_MARGIN = 0.5  # CPUs: a load average within this of the CPU count at start means the machine is shared
OLD_THREADS = "ROBUSTNESS_OLD_THREADS"  # set to 1: the former behaviour (spinning OpenMP, torch's own count), for benchmarks


ADAPTIVE_SOURCES = ("affinity", "cgroup quota")  # counts the suite chose itself: it may lower them under load
PROBE_INTERVAL_S = 1.0  # between two looks at the machine's load: each costs about 5 ms (3 reads, 2 ms apart)


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count of torch's pools and of the attack stage's workers, and why."""

    count: int
    source: str  # "threads setting", "OMP_NUM_THREADS", "cgroup quota", "affinity", "former default"
    reason: str  # one line for people, e.g. "cgroup quota of 1.5 CPUs (150000/100000 µs) below 2 CPUs of affinity"
    openmp_wait: str = "default"  # how OpenMP threads wait: "PASSIVE", a user's OMP_WAIT_POLICY / GOMP_SPINCOUNT, or libgomp's spinning default

    @property
    def adaptive(self) -> bool:
        """True when the suite chose the count itself (not a user's --threads or OMP_NUM_THREADS): it may then run
        units on fewer threads while other processes keep the CPUs busy (``ThreadGovernor``)."""
        return self.source in ADAPTIVE_SOURCES

    def record(self) -> dict:
        """For results.json's environment."""
        return {"count": self.count, "source": self.source, "reason": self.reason, "openmp_wait": self.openmp_wait}


class ThreadGovernor:
    """The thread count for the next unit of work: the chosen count, lowered to the CPUs other processes leave free.

    Why: libgomp's threads spin while they wait (on an idle machine the fastest way), and the wait policy cannot
    change once torch has loaded; ``passive_openmp`` can only make them sleep when the machine is busy at start.
    Load that comes later (a second experiment, a training job, a browser) turned a 96 s default run into 297 s
    beside one busy loop (2.07× its fair share, docs/benchmarks.md): each of our two spinning threads held a core
    the other needed. On one thread a parallel region has no team to wait for, so nothing spins. Before each unit
    the executor asks ``count()``; at most every ``interval_s`` it looks at the threads other processes have
    runnable (``runnable_others``) and answers ``max(1, min(chosen, cpus − others))``.

    Training's float sums depend on the thread count (docs/benchmarks.md), so a unit trained on fewer threads
    has other last bits than on an idle machine; ``--threads N`` (or ``OMP_NUM_THREADS``) fixes the count and turns
    this off. The attack stage's numbers on given models do not depend on it."""

    def __init__(self, chosen: int, cpus: int, probe: Callable[[], int | None] | None = None,
                 clock: Callable[[], float] = time.monotonic, interval_s: float = PROBE_INTERVAL_S):
        self.chosen, self.cpus, self.interval_s = chosen, cpus, interval_s
        self.probe, self.clock = probe or runnable_others, clock
        self.looked = -math.inf
        self.others: int | None = None  # threads of other processes runnable at the last look; None: not known
        self.units = self.fewer = 0  # units started here, and how many of them on fewer than ``chosen`` threads
        self.fewest = chosen
        self.in_workers = 0  # units an executor ran in one-thread worker processes instead (executors.Auto)

    def threads(self) -> int:
        """The thread count the load leaves this process now (looked at most once per ``interval_s``)."""
        now = self.clock()
        if now - self.looked >= self.interval_s:
            self.looked = now
            self.others = self.probe()
        return self.chosen if self.others is None else max(1, min(self.chosen, self.cpus - self.others))

    def full(self) -> bool:
        """Whether other processes' runnable threads fill every CPU (as of the last look, at most ``interval_s``
        ago): then even one thread here gets less than a core, and only more processes get more of the CPUs."""
        self.threads()
        return self.others is not None and self.others >= self.cpus

    def count(self) -> int:
        """The thread count for the unit about to start here (counted in ``record``)."""
        count = self.threads()
        self.units += 1
        if count < self.chosen:
            self.fewer += 1
            self.fewest = min(self.fewest, count)
        return count

    def record(self) -> dict:
        """For results.json's environment.threads.adapted."""
        return {"units": self.units, "units_on_fewer_threads": self.fewer, "fewest_threads": self.fewest,
                "units_in_worker_processes": self.in_workers}


def runnable_others(loadavg: Path = Path("/proc/loadavg"), tasks: Path = Path("/proc/self/task"), samples: int = 3,
                    gap_s: float = 0.002) -> int | None:
    """Threads of other processes runnable right now: /proc/loadavg's runnable count less this process's own
    runnable threads (``own_runnable``), the fewest of ``samples`` reads ``gap_s`` apart (a busy process is
    runnable in every read, a passing one is not). None where /proc does not say (macOS, Windows)."""
    try:
        return fewest_runnable(lambda: own_runnable(tasks), loadavg, samples, gap_s)
    except (OSError, IndexError, ValueError):
        return None


def fewest_runnable(own: Callable[[], int], loadavg: Path, samples: int, gap_s: float) -> int:
    """The fewest, over ``samples`` reads ``gap_s`` apart, of /proc/loadavg's runnable threads less ``own()`` (this
    process's); a busy process is runnable in every read, a passing one is not. Raises OSError, IndexError or
    ValueError where /proc does not say."""
    counts = []
    for k in range(samples):
        counts.append(max(0, int(loadavg.read_text().split()[3].split("/")[0]) - own()))
        if k + 1 < samples:
            time.sleep(gap_s)
    return min(counts)


def own_runnable(tasks: Path = Path("/proc/self/task")) -> int:
    """This process's threads in state R (running or runnable), from /proc/self/task/*/stat; at least 1 (the
    caller is running). A thread that ends while it is read is skipped."""
    count = 0
    for stat in tasks.glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        count += text[text.rfind(")") + 2 : text.rfind(")") + 3] == "R"
    return max(1, count)


def passive_openmp(environ: MutableMapping[str, str] = os.environ, load: float | None = None,
                   cpus: int | None = None) -> bool:
    """Make OpenMP threads sleep, not spin, when they wait (``OMP_WAIT_POLICY=PASSIVE``) if the machine is
    already busy when the run starts: at least ``cpus − BUSY_MARGIN`` other threads runnable (``machine_load``;
    ``cpus``: the CPUs of the affinity mask). Unless the user set a wait policy or spin count, or ``ROBUSTNESS_OLD_THREADS=1``.

    Why only then: on an idle machine libgomp's spinning wait is the fastest (the default run took 1.6× as
    long with PASSIVE on an idle 2-core machine: 117 s against 72 s without label noise), and beside other
    work it is a collapse (docs/benchmarks.md). Call it before torch is imported. True when it set the
    variable. ``load`` and ``cpus`` are for tests."""
    if environ.get(OLD_THREADS) == "1" or any(name in environ for name in WAIT_VARIABLES):
        return False
    load = machine_load() if load is None else load
    cpus = affinity_cpus() if cpus is None else cpus
    if load < cpus - BUSY_MARGIN:
        return False
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def machine_load(loadavg: Path = Path("/proc/loadavg"), samples: int = 5, gap_s: float = 0.01) -> float:
    """Threads runnable right now besides this one (/proc/loadavg's 4th field), the fewest of ``samples`` reads
    ``gap_s`` apart: a busy process is runnable in every read, a passing one is not. Not the load average: it lags
    a minute behind, so it still counts a run that just ended (an idle machine would then get the slow wait)."""
    try:
        return float(fewest_runnable(lambda: 1, loadavg, samples, gap_s))  # at start this process runs one thread
    except (OSError, IndexError, ValueError):  # no /proc (macOS): the 1-minute load average
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def affinity_cpus() -> int:
    """CPUs this process may run on (its affinity mask; the core count where the OS has no masks)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cgroup_dirs(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> list[Path]:
    """The cgroup folders that may hold this process's CPU quota, innermost first: its own cgroup and each
    parent (v2: ROOT/PATH; v1: ROOT/cpu/PATH, ROOT/cpu,cpuacct/PATH), and ROOT itself (inside a container the
    listed path often names the host's hierarchy, and the container's own cgroup is mounted at ROOT)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    bases = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":  # v2: "0::/user.slice/..."
            bases.append(root / path.lstrip("/"))
        elif "cpu" in controllers.split(","):
            bases += [root / mount / path.lstrip("/") for mount in ("cpu", "cpu,cpuacct")]
    dirs = [parent for base in bases for parent in _up_to(base, root)]
    dirs += [root, root / "cpu", root / "cpu,cpuacct"]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def _up_to(path: Path, root: Path) -> Iterable[Path]:
    while path != root and root in path.parents:
        yield path
        path = path.parent


def cgroup_quota(dirs: Iterable[Path]) -> tuple[float, str] | None:
    """The smallest CPU quota among ``dirs`` in CPUs, and the file's numbers; None without a quota.
    v2 ``cpu.max`` holds "QUOTA PERIOD" or "max PERIOD"; v1 ``cpu.cfs_quota_us`` (-1: none) and ``cpu.cfs_period_us``."""
    found = []
    for folder in dirs:
        numbers = _v2_quota(folder / "cpu.max") or _v1_quota(folder / "cpu.cfs_quota_us", folder / "cpu.cfs_period_us")
        if numbers:
            found.append((numbers[0] / numbers[1], f"{numbers[0]}/{numbers[1]} µs in {folder}"))
    return min(found, default=None)


def _v2_quota(path: Path) -> tuple[int, int] | None:
    try:
        quota, period = path.read_text().split()[:2]
        return (int(quota), int(period)) if quota != "max" and int(period) > 0 and int(quota) > 0 else None
    except (OSError, ValueError):
        return None


def _v1_quota(quota_path: Path, period_path: Path) -> tuple[int, int] | None:
    try:
        quota, period = int(quota_path.read_text()), int(period_path.read_text())
        return (quota, period) if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def choose_threads(requested: int = 0, environ: Mapping[str, str] = os.environ, affinity: int | None = None,
                   cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP,
                   torch_default: int = 0) -> ThreadChoice:
    """The thread count: ``requested`` (``--threads`` or the ``threads`` field) when > 0, else a valid
    ``OMP_NUM_THREADS``, else the affinity mask's CPUs capped by the cgroup quota (rounded down, at least 1:
    more threads than the quota pays for get throttled mid-region). ``ROBUSTNESS_OLD_THREADS=1``: torch's
    own count (``torch_default``), as before this module. ``affinity`` and the cgroup paths are for tests."""
    wait = openmp_wait(environ)
    if requested > 0:
        return ThreadChoice(requested, "threads setting", f"--threads / threads = {requested}", wait)
    omp = environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        return ThreadChoice(int(omp), "OMP_NUM_THREADS", f"OMP_NUM_THREADS={omp} in the environment", wait)
    if environ.get(OLD_THREADS) == "1" and torch_default > 0:
        return ThreadChoice(torch_default, "former default", f"{OLD_THREADS}=1: torch's own count", wait)
    cpus = affinity_cpus() if affinity is None else affinity
    quota = cgroup_quota(cgroup_dirs(cgroup_root, proc_cgroup))
    if quota is not None and quota[0] < cpus:
        count = max(1, math.floor(quota[0]))
        return ThreadChoice(count, "cgroup quota", f"cgroup CPU quota of {quota[0]:g} CPUs ({quota[1]}), "
                            f"below the {cpus} CPUs of the affinity mask", wait)
    return ThreadChoice(cpus, "affinity", f"{cpus} CPUs in this process's affinity mask", wait)


def openmp_wait(environ: Mapping[str, str] = os.environ) -> str:
    """How OpenMP threads wait, as the environment says: "PASSIVE", "ACTIVE", "GOMP_SPINCOUNT=N", or "default"
    (libgomp's: spin, then sleep). What libgomp read when torch loaded, if nothing changed it since."""
    if "OMP_WAIT_POLICY" in environ:
        return environ["OMP_WAIT_POLICY"]
    return f"GOMP_SPINCOUNT={environ['GOMP_SPINCOUNT']}" if "GOMP_SPINCOUNT" in environ else "default"


def describe(record: Mapping) -> str:
    """The report's words for an environment's thread record, e.g.
    "2 threads (2 CPUs in this process's affinity mask; OpenMP wait PASSIVE), under load: 12 units in one-thread
    worker processes"."""
    count = record.get("count")
    wait = f"; OpenMP wait {record['openmp_wait']}" if "openmp_wait" in record else ""
    return f"{count} thread{'s' if count != 1 else ''} ({record.get('reason', record.get('source', '?'))}{wait}){_under_load(record)}"


def _under_load(record: Mapping) -> str:
    """", under load: 3 units on fewer threads, 12 units in one-thread worker processes", or "" when nothing adapted."""
    adapted = record.get("adapted") or {}
    parts = [f"{adapted[key]} unit{'s' if adapted[key] != 1 else ''} {words}" for key, words in
             (("units_on_fewer_threads", "on fewer threads"), ("units_in_worker_processes", "in one-thread worker processes"))
             if adapted.get(key)]
    return f", under load: {', '.join(parts)}" if parts else ""
