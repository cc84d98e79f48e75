"""Where units of work run: in this process, one after another (the default), or as
Ray tasks across the GPUs and machines of a Ray cluster.

A unit is a top-level function and its arguments, named by the hash of what
determines it (its key). Executors call ``on_done(unit, result)`` in the driver
as each unit finishes, so the driver writes every result to the run directory
as soon as it exists, whichever executor ran it.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.multiprocessing  # noqa: F401  (registers tensor pickling through shared memory: a split travels to a worker once)
from tqdm.auto import tqdm

from robustness.errors import SuiteError
from robustness.threads import WAIT_VARIABLES, ThreadGovernor, choose_threads

RAY_INSTALL_HINT = "--executor ray needs Ray; install it with: pip install -e '.[ray]'"


@dataclass(frozen=True)
class Unit:
    key: str  # hash of exactly what determines the result: cache key and task key
    label: str  # for people: progress bars and error messages
    fn: Callable[..., Any]  # a module-level function, so that Ray or a worker process can ship it
    args: tuple = ()
    # Made just before the unit runs in this process: keyword arguments for its progress display (an epoch bar).
    # A unit shipped to another process (Ray, WorkerProcesses) runs without them.
    local_kwargs: Callable[[], dict] | None = None

    def run_here(self) -> Any:
        """The unit's result, computed in this process."""
        return self.fn(*self.args, **(self.local_kwargs() if self.local_kwargs else {}))


@dataclass(frozen=True)
class Devices:
    """Where units run (``units``: under Ray, the workers' device) and where the driver's own work
    runs (``local``: diagnostics, the between-points analysis); they differ when the cluster has GPUs
    and this machine has none."""

    units: torch.device
    local: torch.device

    @classmethod
    def one(cls, device: torch.device) -> Devices:
        return cls(device, device)


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present; asking for CUDA without it is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SuiteError("--device cuda was asked for but CUDA is not available here; use --device cpu or auto")
    return torch.device(name)


class InProcess:
    """Run units one after another in this process; the first failure stops the run. With a ``governor``
    (robustness/threads.py: ThreadGovernor), each unit runs on the torch threads it gives: fewer while other
    processes keep the CPUs busy."""

    name = "in-process"

    def __init__(self, governor: ThreadGovernor | None = None):
        self.governor = governor

    def governed(self, governor: ThreadGovernor | None, device: torch.device) -> InProcess:
        """This executor with ``governor`` sizing torch's threads before each unit (``device``: where units run)."""
        return InProcess(governor)

    def run(self, units: list[Unit], on_done: Callable[[Unit, Any], None], desc: str, progress: bool = True) -> dict[str, str]:
        bar = tqdm(total=len(units), desc=desc, unit="unit", disable=not progress)
        for unit in units:
            self.run_one(unit, on_done, bar)
        bar.close()
        return {}

    def run_one(self, unit: Unit, on_done: Callable[[Unit, Any], None], bar: tqdm) -> None:
        """``unit`` in this process, on the governor's thread count."""
        bar.set_postfix_str(unit.label)
        if self.governor is not None:
            count = self.governor.count()
            if count != torch.get_num_threads():
                torch.set_num_threads(count)
        on_done(unit, unit.run_here())
        bar.update()

    def close(self) -> None:
        """Nothing to stop: no worker outlives a unit."""


# Seconds of a stage's work left, at this run's pace so far, from which starting worker processes pays: each worker
# imports torch and the suite first (about 4 s of CPU), meanwhile the run goes on here; beside two busy loops two
# one-thread workers then get 1.5× the CPU of one thread here. The tiny preset's stages stay below it.
HAND_OVER_WORTH_S = 15.0


class Auto(InProcess):
    """In this process while the CPUs are free (as InProcess); while other processes keep them busy, the rest of
    a stage's units go to worker processes of one thread each (WorkerProcesses), one per chosen thread.

    Why: beside other work one process gets one thread's share of the CPUs, and torch's threads in one process
    wait at the end of every parallel region for a thread the OS descheduled. Measured on 2 cores beside two
    busy loops (docs/benchmarks.md): the default run took 1.25× its fair share on the thread governor alone,
    the best one thread can do there; independent units on one-thread worker processes wait for nothing.

    Before each unit it looks at the load. Busy means that other processes' runnable threads fill every CPU
    (``ThreadGovernor.full``): with fewer, one thread here still gets a whole core (the governor's count), and
    a second copy of the suite would see this one's workers and start its own, four processes sharing what two
    threads had (measured: a twin run took 163 s instead of 126 s). When the machine is busy, at least two units
    are left and the work left (their count × the mean seconds of this run's units so far here) is at least
    ``worth_s``, it starts the workers and goes on here while they start; from the unit after they are ready, the
    rest of a stage goes to them. They stop with the run. So the first unit of a run
    runs here, and on an idle machine nothing leaves this process: the numbers are those of InProcess. A unit
    the workers did not finish (it could not be shipped, e.g. a model class defined in a notebook; its worker
    died; it raised) runs again here, where its error is raised as InProcess raises it, and the workers are not
    used again in this run."""

    name = "auto"

    def __init__(self, governor: ThreadGovernor | None = None, workers: WorkerProcesses | None = None,
                 worth_s: float = HAND_OVER_WORTH_S):
        super().__init__(governor)
        self.workers = workers  # None: every unit stays here (no governor, one chosen thread, or a GPU run)
        self.worth_s = worth_s
        self.spent: list[float] = []  # seconds of each unit this run ran here

    def governed(self, governor: ThreadGovernor | None, device: torch.device) -> Auto:
        """With ``governor``; worker processes only where they can help: a CPU run whose chosen count is at least 2."""
        helps = governor is not None and governor.chosen >= 2 and device.type == "cpu"
        return Auto(governor, WorkerProcesses(governor.chosen) if helps else None, self.worth_s)

    def run(self, units: list[Unit], on_done: Callable[[Unit, Any], None], desc: str, progress: bool = True) -> dict[str, str]:
        bar = tqdm(total=len(units), desc=desc, unit="unit", disable=not progress)
        todo = list(units)
        while todo:
            if self.hand_over(todo):
                failed = self.workers.run_on(todo, self._counted(on_done), bar)
                todo = [unit for unit in todo if unit.key in failed]
                if failed:
                    self.close()
                continue
            clock = time.perf_counter()
            self.run_one(todo.pop(0), on_done, bar)
            self.spent.append(time.perf_counter() - clock)
        bar.close()
        return {}

    def hand_over(self, todo: list[Unit]) -> bool:
        """Whether the units ``todo`` go to the workers now; starts them when they will be (see the class)."""
        if self.workers is None or len(todo) < 2 or not self.governor.full():
            return False
        if not self.workers.started and self.spent and sum(self.spent) / len(self.spent) * len(todo) >= self.worth_s:
            self.workers.start(todo[0].fn.__module__)
        return self.workers.ready()

    def _counted(self, on_done: Callable[[Unit, Any], None]) -> Callable[[Unit, Any], None]:
        def done(unit: Unit, result: Any) -> None:
            self.governor.in_workers += 1
            on_done(unit, result)
        return done

    def close(self) -> None:
        """Stop the worker processes (they are not used again)."""
        if self.workers is not None:
            self.workers.close()
            self.workers = None


class WorkerProcesses:
    """Run units in ``workers`` worker processes of this machine, each running torch on one thread (the standard
    library's ProcessPoolExecutor, spawned: a fresh interpreter, so no OpenMP state is forked). Tensors travel
    through shared memory (torch.multiprocessing), so a data split is copied once, not once per unit. A unit that
    fails is reported and the others still finish, as under Ray. Ctrl-C stops the workers at once (they ignore
    SIGINT themselves, so that the driver decides)."""

    name = "processes"

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self.pool: ProcessPoolExecutor | None = None
        self.warming: list = []  # the first task of each worker (``start``)

    def governed(self, governor: ThreadGovernor | None, device: torch.device) -> WorkerProcesses:
        """Itself: every worker runs one thread whatever the load."""
        return self

    @property
    def started(self) -> bool:
        return self.pool is not None

    def start(self, module: str | None = None) -> None:
        """Start the workers without waiting for them; each imports ``module`` (the units' own) as it starts."""
        if self.pool is None:
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_start)
            self.warming = [self.pool.submit(_import, module) for _ in range(self.workers)]  # spawns every worker

    def ready(self) -> bool:
        """Started, and the first task of each worker has run (so that units handed over do not wait for a start)."""
        return self.pool is not None and all(future.done() for future in self.warming)

    def run(self, units: list[Unit], on_done: Callable[[Unit, Any], None], desc: str, progress: bool = True) -> dict[str, str]:
        bar = tqdm(total=len(units), desc=f"{desc} (processes)", unit="unit", disable=not progress)
        failures = self.run_on(units, on_done, bar)
        bar.close()
        return failures

    def run_on(self, units: list[Unit], on_done: Callable[[Unit, Any], None], bar: tqdm) -> dict[str, str]:
        """Every unit in the workers, ``on_done`` in this thread as each finishes; key -> one line per failed unit.
        A pool that broke (a worker died) is stopped, so that the next call starts a fresh one."""
        self.start()
        failures: dict[str, str] = {}
        try:
            futures = {self.pool.submit(unit.fn, *unit.args): unit for unit in units}
            for future in as_completed(futures):
                unit = futures[future]
                error = future.exception()
                if error is None:
                    on_done(unit, future.result())
                else:
                    failures[unit.key] = f"{unit.label}: {one_line(error)}"
                bar.update()
                bar.set_postfix_str(unit.label)
        except BaseException:  # Ctrl-C, or on_done failed: no worker goes on computing for nobody
            self.close(kill=True)
            raise
        if any(isinstance(future.exception(), BrokenProcessPool) for future in futures):
            self.close(kill=True)
        return failures

    def close(self, kill: bool = False) -> None:
        """Stop the workers: after their current units, or at once (``kill``)."""
        if self.pool is None:
            return
        if kill:  # ProcessPoolExecutor has no public way to stop a running unit before Python 3.14
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                process.terminate()
        self.pool.shutdown(wait=not kill, cancel_futures=True)
        self.pool = None


def _worker_start() -> None:
    """In each worker process, before its first unit: one torch thread, Ctrl-C left to the driver, and an end
    with the driver's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    """Exit when the driver's process ends, however it ends (SIGKILL, SIGTERM, a crash): without this a worker
    waits forever for work on a queue its siblings keep open."""
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _import(module: str | None) -> None:
    """A worker's first task: import the units' module (torch and the suite), so that units do not wait for it."""
    if module:
        importlib.import_module(module)


def one_line(error: BaseException) -> str:
    """``Type: last line of the message``, for a failed unit's report."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[-1] if text else ''}"


class RayExecutor:
    """Run units as Ray tasks: one GPU each when the run uses CUDA, else one CPU each.

    A task that raises is retried once (``retry_exceptions``); if it fails again,
    its error is reported and the other units still finish.
    """

    name = "ray"

    def __init__(self, address: str | None = None, gpus_per_task: float = 0, num_cpus: int | None = None,
                 cpus_per_task: int = 1):
        try:
            import ray
        except ImportError:
            raise SuiteError(RAY_INSTALL_HINT) from None
        self.ray = ray
        self.gpus_per_task = gpus_per_task
        self.cpus_per_task = cpus_per_task  # each task runs torch on this many threads (``_call``)
        if not ray.is_initialized():
            # The driver's own code travels to the workers, so a cluster needs no install of this suite.
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            # Workers wait for OpenMP as the driver does (robustness/threads.py): set before their torch loads.
            waits = {name: os.environ[name] for name in WAIT_VARIABLES if name in os.environ}
            if address in (None, "local"):  # workers on this machine import the suite from here
                path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
                runtime_env = {"env_vars": {"PYTHONPATH": path} | waits}
            else:
                runtime_env = {"working_dir": root, "excludes": ["reports/", "data/", ".git/", ".venv/", "bench/"],
                               "env_vars": waits}
            try:
                ray.init(address=None if address == "local" else address, num_cpus=num_cpus, runtime_env=runtime_env,
                         include_dashboard=False, log_to_driver=False, configure_logging=False)
            except ConnectionError as err:
                raise SuiteError(f"cannot reach the Ray cluster at {address!r} ({err}); start one with `ray start --head` or drop --ray-address") from None

    def governed(self, governor: ThreadGovernor | None, device: torch.device) -> RayExecutor:
        """Itself: each Ray task sizes torch to the CPUs Ray assigned it (``_call``), which Ray keeps from overlapping."""
        return self

    def cluster_has_gpus(self) -> bool:
        return self.ray.cluster_resources().get("GPU", 0) > 0

    def run(self, units: list[Unit], on_done: Callable[[Unit, Any], None], desc: str, progress: bool = True) -> dict[str, str]:
        ray = self.ray
        task = ray.remote(_call).options(num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task, max_retries=1, retry_exceptions=True)
        shared: dict[int, Any] = {}  # large arguments (the data split) go to the object store once

        def ship(arg):
            if isinstance(arg, (str, int, float, bool, type(None))):
                return arg
            if id(arg) not in shared:
                shared[id(arg)] = ray.put(arg)
            return shared[id(arg)]

        pending = {task.remote(unit.fn, *map(ship, unit.args)): unit for unit in units}
        failures: dict[str, str] = {}
        bar = tqdm(total=len(units), desc=f"{desc} (ray)", unit="unit", disable=not progress)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(ready[0])
            try:
                on_done(unit, ray.get(ready[0]))
            except ray.exceptions.RayError as err:
                failures[unit.key] = f"{unit.label}: {one_line(getattr(err, 'cause', None) or err)}"
            bar.update()
            bar.set_postfix_str(unit.label)
        bar.close()
        return failures

    def close(self) -> None:
        """Nothing to stop here: the Ray instance outlives the run (``ray.shutdown()`` is the caller's)."""


def _call(fn: Callable, *args):
    """``fn(*args)`` in a Ray worker, on as many torch threads as the CPUs Ray gave this task (its ``num_cpus``),
    not the node's core count: a node runs one task per CPU at once."""
    import ray  # deferred: only Ray workers run this

    torch.set_num_threads(task_threads(ray.get_runtime_context().get_assigned_resources()))
    return fn(*args)


def task_threads(assigned: dict[str, float]) -> int:
    """Threads for a task that Ray assigned ``assigned`` resources, e.g. {"CPU": 2.0} -> 2; at least 1."""
    return max(1, int(assigned.get("CPU", 1)))


EXECUTORS = ("auto", "in-process", "processes", "ray")


def make_executor(name: str, address: str | None = None) -> InProcess | WorkerProcesses | RayExecutor:
    """``"auto"`` (this process, worker processes while the CPUs are busy), ``"in-process"``, ``"processes"``
    (one-thread worker processes, as many as ``choose_threads`` gives threads: OMP_NUM_THREADS, the affinity mask
    and a cgroup quota) or ``"ray"`` (``address``: None starts a local Ray instance)."""
    if name == "auto":
        return Auto()
    if name == "in-process":
        return InProcess()
    if name == "processes":
        return WorkerProcesses(choose_threads().count)
    if name == "ray":
        return RayExecutor(address)
    raise SuiteError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")
