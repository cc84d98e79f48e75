"""Where units of work run: in this process, one after another (the default), or as
Ray tasks across the GPUs and machines of a Ray cluster.

A unit is a top-level function and its arguments, named by the hash of what
determines it (its key). Executors call ``on_done(unit, result)`` in the driver
as each unit finishes, so the driver writes every result to the run directory
as soon as it exists, whichever executor ran it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from robustness.errors import SuiteError
from robustness.threads import WAIT_VARIABLES, ThreadGovernor

RAY_INSTALL_HINT = "--executor ray needs Ray; install it with: pip install -e '.[ray]'"


@dataclass(frozen=True)
class Unit:
    key: str  # hash of exactly what determines the result: cache key and task key
    label: str  # for people: progress bars and error messages
    fn: Callable[..., Any]  # a module-level function, so that Ray can ship it
    args: tuple = ()


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

    def governed(self, governor: ThreadGovernor | None) -> InProcess:
        """This executor with ``governor`` sizing torch's threads before each unit."""
        return InProcess(governor)

    def run(self, units: list[Unit], on_done: Callable[[Unit, Any], None], desc: str, progress: bool = True) -> dict[str, str]:
        bar = tqdm(units, desc=desc, unit="unit", disable=not progress)
        for unit in bar:
            bar.set_postfix_str(unit.label)
            if self.governor is not None:
                count = self.governor.count()
                if count != torch.get_num_threads():
                    torch.set_num_threads(count)
            on_done(unit, unit.fn(*unit.args))
        return {}


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

    def governed(self, governor: ThreadGovernor | None) -> RayExecutor:
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
                cause = getattr(err, "cause", None) or err
                failures[unit.key] = f"{unit.label}: {type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}"
            bar.update()
            bar.set_postfix_str(unit.label)
        bar.close()
        return failures


def _call(fn: Callable, *args):
    """``fn(*args)`` in a Ray worker, on as many torch threads as the CPUs Ray gave this task (its ``num_cpus``),
    not the node's core count: a node runs one task per CPU at once."""
    import ray  # deferred: only Ray workers run this

    torch.set_num_threads(task_threads(ray.get_runtime_context().get_assigned_resources()))
    return fn(*args)


def task_threads(assigned: dict[str, float]) -> int:
    """Threads for a task that Ray assigned ``assigned`` resources, e.g. {"CPU": 2.0} -> 2; at least 1."""
    return max(1, int(assigned.get("CPU", 1)))


def make_executor(name: str, address: str | None = None) -> InProcess | RayExecutor:
    """``"in-process"`` (no Ray import) or ``"ray"`` (``address``: None starts a local Ray instance)."""
    if name == "in-process":
        return InProcess()
    if name == "ray":
        return RayExecutor(address)
    raise SuiteError(f"unknown executor {name!r}; choose one of: in-process, ray")
