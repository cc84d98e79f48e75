"""Worker processes (robustness/executors.py: WorkerProcesses, and Auto, the run's default): units run in
one-thread worker processes while other processes keep the CPUs busy, with the numbers of one thread here.
The speed itself: bench/bench_contention.py."""

import os
import time

import pytest
import torch
from conftest import torch_threads

from robustness.data import load
from robustness.executors import Auto, InProcess, Unit, WorkerProcesses, make_executor
from robustness.presets import PRESETS
from robustness.suite import prepare, run_stages
from robustness.threads import ThreadGovernor
from robustness.units import UnitStore

CPU = torch.device("cpu")


def busy_governor(others: int = 2) -> ThreadGovernor:
    """A governor on 2 CPUs that sees ``others`` threads of other processes runnable (2: the machine is full)."""
    return ThreadGovernor(chosen=2, cpus=2, probe=lambda: others, interval_s=0.0)


def collect(executor, units: list[Unit]) -> tuple[dict, dict]:
    done = {}
    failures = executor.run(units, lambda unit, result: done.update({unit.key: result}), "t", progress=False)
    return done, failures


@pytest.fixture(scope="module")
def workers():
    pool = WorkerProcesses(2)
    yield pool
    pool.close()


def test_units_run_in_other_processes_on_one_thread_each(workers):
    units = [Unit(f"pid{k}", "pid", os.getpid) for k in range(3)] + [Unit("threads", "threads", torch.get_num_threads)]
    done, failures = collect(workers, units)
    assert failures == {} and done["threads"] == 1
    assert os.getpid() not in {done[f"pid{k}"] for k in range(3)}


def test_a_failed_unit_is_reported_in_one_line_and_the_others_finish(workers):
    units = [Unit("bad", "bad unit", int, ("x",)), Unit("fine", "fine", abs, (-4,))]
    done, failures = collect(workers, units)
    assert done == {"fine": 4} and list(failures) == ["bad"]
    assert failures["bad"].startswith("bad unit: ValueError: invalid literal for int()")


def test_local_keyword_arguments_are_made_here_only(workers):
    made = []

    def bar():  # a local function: it cannot be pickled, so shipping it would fail
        made.append(1)
        return {"base": 16}

    unit = Unit("hex", "hex", int, ("ff",), local_kwargs=bar)
    assert collect(InProcess(), [unit])[0] == {"hex": 255} and made == [1]
    done, failures = collect(workers, [Unit("ten", "ten", int, ("12",), local_kwargs=bar)])
    assert done == {"ten": 12} and failures == {} and made == [1]  # shipped without it: base 10, nothing made


def test_an_error_in_the_driver_stops_the_workers_at_once():
    pool = WorkerProcesses(2)
    units = [Unit("quick", "quick", time.sleep, (0,)), Unit("slow", "slow", time.sleep, (60,))]

    def stop(unit, result):
        raise KeyboardInterrupt

    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        pool.run(units, stop, "t", progress=False)
    assert time.perf_counter() - started < 30 and pool.pool is None  # the 60 s unit was not waited for


def busy_auto(others: int = 2, worth_s: float = 0.0, started: bool = False) -> Auto:
    """Auto on a CPU beside ``others`` busy threads; ``worth_s`` 0: any work left is worth the workers' start;
    ``started``: with its workers started and ready."""
    executor = Auto(worth_s=worth_s).governed(busy_governor(others), CPU)
    if started:
        executor.workers.start()
        while not executor.workers.ready():
            time.sleep(0.05)
    return executor


def pids(executor: Auto, count: int) -> list[int]:
    done, failures = collect(executor, [Unit(str(k), str(k), os.getpid) for k in range(count)])
    assert failures == {}
    return [done[str(k)] for k in range(count)]


def test_auto_keeps_units_here_while_the_cpus_are_free():
    executor = busy_auto(others=0)
    assert pids(executor, 3) == [os.getpid()] * 3 and not executor.workers.started
    assert executor.governor.record()["units_in_worker_processes"] == 0


def test_auto_starts_the_workers_and_goes_on_here_until_they_are_ready():
    executor = busy_auto(others=2)
    units = [Unit(f"sleep{k}", "sleep", time.sleep, (0.5,)) for k in range(20)]  # 10 s here: time to start them
    units += [Unit(f"pid{k}", "pid", os.getpid) for k in range(3)]
    try:
        done, failures = collect(executor, units)
        assert failures == {} and os.getpid() not in {done[f"pid{k}"] for k in range(3)}
        record = executor.governor.record()
        assert record["units"] >= 2  # the first unit gives the pace; more ran here while the workers started
        assert record["units_in_worker_processes"] >= 3 and record["units"] + record["units_in_worker_processes"] == 23
    finally:
        executor.close()


def test_auto_hands_the_rest_of_a_stage_to_ready_workers_while_the_cpus_are_busy():
    executor = busy_auto(others=2, started=True)
    try:
        assert os.getpid() not in pids(executor, 3)
        assert executor.governor.record()["units_in_worker_processes"] == 3
        assert pids(executor, 1) == [os.getpid()]  # one unit left: not worth a hand-over
    finally:
        executor.close()


def test_auto_keeps_units_here_while_one_thread_still_gets_a_core():
    """One other runnable thread on 2 CPUs (a busy loop, or a second copy of the suite on one thread): the governor's
    one thread here gets a whole core, and workers would only fight the other copy's."""
    executor = busy_auto(others=1)
    assert pids(executor, 4) == [os.getpid()] * 4 and not executor.workers.started
    assert executor.governor.record()["units_on_fewer_threads"] == 4


def test_auto_keeps_work_here_that_is_not_worth_the_workers_start():
    executor = busy_auto(others=2, worth_s=3600)
    assert pids(executor, 4) == [os.getpid()] * 4 and not executor.workers.started


def test_auto_runs_here_a_unit_the_workers_could_not_take_and_uses_them_no_more():
    executor = busy_auto(others=2, started=True)
    units = [Unit("local", "local", lambda: os.getpid()), Unit("shipped", "shipped", os.getpid)]  # a lambda: no pickle
    done, failures = collect(executor, units)
    assert failures == {} and done["local"] == os.getpid() and done["shipped"] != os.getpid()
    assert executor.workers is None  # the rest of the run stays here
    units = [Unit("a", "a", abs, (1,)), Unit("b", "b", int, ("x",))]
    with pytest.raises(ValueError, match="invalid literal"):  # a unit's own error is raised as it is here
        collect(busy_auto(others=2, started=True), units)


def test_auto_starts_no_workers_where_they_cannot_help():
    assert Auto().governed(None, CPU).workers is None  # --threads N or OMP_NUM_THREADS: the user's count
    assert Auto().governed(ThreadGovernor(chosen=1, cpus=1), CPU).workers is None  # one CPU
    assert Auto().governed(busy_governor(), torch.device("cuda")).workers is None  # the GPU does the work
    assert isinstance(make_executor("processes"), WorkerProcesses) and make_executor("auto").name == "auto"


def without_seconds(value):
    """``value`` less every timing field, which differs from run to run."""
    if isinstance(value, dict):
        return {k: without_seconds(v) for k, v in value.items() if "seconds" not in k and k != "time_s"}
    if isinstance(value, list):
        return [without_seconds(v) for v in value]
    return value


def test_a_run_in_worker_processes_gives_the_numbers_of_one_thread_here():
    """The tiny preset's stages (training, attacks, label noise) with every stage handed to the workers equal
    the same stages run here on one thread, number for number."""
    config = PRESETS["tiny"]
    with torch_threads(1):
        setup = prepare(config, load(config.data))
        here, _ = run_stages(setup, UnitStore(None), InProcess(), False, None)
    executor = busy_auto(others=2, started=True)
    try:
        with torch_threads(1):  # the driver's own work (diagnostics, the between-points analysis) on one thread too
            there, _ = run_stages(setup, UnitStore(None), executor, False, None)
    finally:
        executor.close()
    assert executor.governor.record()["units_in_worker_processes"] > 0
    assert without_seconds(there) == without_seconds(here)


DRIVER = """
import os, sys, time
from robustness.executors import WorkerProcesses
if __name__ == "__main__":
    pool = WorkerProcesses(2)
    pool.start()
    while not pool.ready():
        time.sleep(0.05)
    print(" ".join(str(p.pid) for p in pool.pool._processes.values()), flush=True)
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waits only for its reaper
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_workers_end_when_their_driver_is_killed(tmp_path):
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    workers = [int(pid) for pid in driver.stdout.readline().split()]
    assert len(workers) == 2 and all(alive(pid) for pid in workers)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
