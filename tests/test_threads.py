"""Thread sizing (robustness/threads.py): from the affinity mask and a cgroup quota, overridden by --threads
and OMP_NUM_THREADS; the chosen count reaches torch, the attack stage's workers and Ray tasks, and
OpenMP's wait policy is passive unless the user chose one. The speed itself: bench/bench_contention.py."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

import robustness
from attacks.workers import Workers
from robustness.executors import InProcess, RayExecutor, Unit, task_threads
from robustness.suite import thread_record, use_threads
from robustness.threads import (OLD_THREADS, ThreadGovernor, cgroup_dirs, cgroup_quota, choose_threads, describe,
                                machine_load, own_runnable, passive_openmp, runnable_others)


@pytest.fixture
def no_cgroup(tmp_path):
    """An empty cgroup root and a /proc/self/cgroup that names it: no quota anywhere."""
    (tmp_path / "cg").mkdir()
    (tmp_path / "proc_cgroup").write_text("0::/\n")
    return {"cgroup_root": tmp_path / "cg", "proc_cgroup": tmp_path / "proc_cgroup"}


def cgroup_v2(tmp_path, path: str, files: dict[str, str]) -> dict:
    """A cgroup v2 tree under tmp_path/cg with ``files`` (relative path -> content); the process in ``path``."""
    root = tmp_path / "cg"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (tmp_path / "proc_cgroup").write_text(f"0::{path}\n")
    return {"cgroup_root": root, "proc_cgroup": tmp_path / "proc_cgroup"}


def test_the_affinity_mask_sizes_the_threads(no_cgroup):
    for cpus in (1, 3, 7):
        choice = choose_threads(0, environ={}, affinity=cpus, **no_cgroup)
        assert (choice.count, choice.source) == (cpus, "affinity") and f"{cpus} CPUs" in choice.reason


def test_the_real_affinity_mask_is_read_by_default(no_cgroup):
    assert choose_threads(0, environ={}, **no_cgroup).count == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("quota, expected", [("150000 100000", 1), ("250000 100000", 2), ("50000 100000", 1),
                                             ("max 100000", 4), ("900000 100000", 4)])
def test_a_cgroup_v2_quota_caps_the_threads(tmp_path, quota, expected):
    paths = cgroup_v2(tmp_path, "/", {"cpu.max": quota})
    choice = choose_threads(0, environ={}, affinity=4, **paths)
    assert choice.count == expected
    assert choice.source == ("cgroup quota" if expected < 4 else "affinity")


def test_the_smallest_quota_on_the_way_up_counts(tmp_path):
    paths = cgroup_v2(tmp_path, "/user.slice/job", {"user.slice/job/cpu.max": "300000 100000",
                                                     "user.slice/cpu.max": "200000 100000", "cpu.max": "max 100000"})
    assert cgroup_quota(cgroup_dirs(**{"root": paths["cgroup_root"], "proc_cgroup": paths["proc_cgroup"]}))[0] == 2.0
    choice = choose_threads(0, environ={}, affinity=8, **paths)
    assert choice.count == 2 and "user.slice" in choice.reason


def test_a_cgroup_v1_quota_caps_the_threads(tmp_path):
    root = tmp_path / "cg" / "cpu,cpuacct" / "docker" / "abc"
    root.mkdir(parents=True)
    (root / "cpu.cfs_quota_us").write_text("300000\n")
    (root / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "proc_cgroup").write_text("4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")
    choice = choose_threads(0, environ={}, affinity=16, cgroup_root=tmp_path / "cg", proc_cgroup=tmp_path / "proc_cgroup")
    assert (choice.count, choice.source) == (3, "cgroup quota")
    (root / "cpu.cfs_quota_us").write_text("-1\n")  # v1's "no quota"
    assert choose_threads(0, environ={}, affinity=16, cgroup_root=tmp_path / "cg",
                          proc_cgroup=tmp_path / "proc_cgroup").count == 16


def test_threads_setting_then_omp_num_threads_win(tmp_path):
    paths = cgroup_v2(tmp_path, "/", {"cpu.max": "100000 100000"})
    assert choose_threads(3, environ={"OMP_NUM_THREADS": "2"}, affinity=8, **paths).count == 3
    omp = choose_threads(0, environ={"OMP_NUM_THREADS": "2"}, affinity=8, **paths)
    assert (omp.count, omp.source) == (2, "OMP_NUM_THREADS")
    assert choose_threads(0, environ={"OMP_NUM_THREADS": "lots"}, affinity=8, **paths).source == "cgroup quota"


def test_the_old_switch_keeps_torchs_own_count(no_cgroup):
    choice = choose_threads(0, environ={OLD_THREADS: "1"}, affinity=2, torch_default=5, **no_cgroup)
    assert (choice.count, choice.source) == (5, "former default")


def test_machine_load_counts_threads_runnable_now_in_every_read(tmp_path):
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("0.10 0.50 0.70 3/250 12345\n")  # two busy threads besides us, too new for the average
    assert machine_load(loadavg, gap_s=0) == 2
    loadavg.write_text("2.50 1.00 0.70 1/250 12345\n")  # a run that just ended still weighs on the average: not busy
    assert machine_load(loadavg, gap_s=0) == 0


def test_openmp_waits_passively_on_a_busy_machine_unless_the_user_chose():
    env = {}
    assert passive_openmp(env, load=1.6, cpus=2) and env == {"OMP_WAIT_POLICY": "PASSIVE"}  # busy at start
    env = {}
    assert not passive_openmp(env, load=1.4, cpus=2) and env == {}  # idle enough: libgomp's spin is faster
    assert passive_openmp(env, load=15.5, cpus=16) and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    for given in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "10000"}, {OLD_THREADS: "1"}):
        env = dict(given)
        assert not passive_openmp(env, load=9.0, cpus=2) and env == given


def test_use_threads_reaches_torch_and_the_attack_workers():
    saved = torch.get_num_threads()
    try:
        choice = use_threads(3)
        assert torch.get_num_threads() == 3
        assert choice.record() | {"openmp_wait": None} == {"count": 3, "source": "threads setting",
                                                           "reason": "--threads / threads = 3", "openmp_wait": None}
        workers = Workers.for_device(torch.device("cpu"), 64)
        assert workers.threads == 3
        with workers:
            inside = workers.map(lambda rows: torch.get_num_threads(), 6 * 64)
        assert inside == [1] * len(inside) and len(inside) % 3 == 0  # chunks for 3 workers, each on one torch thread
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(saved)


def test_ray_tasks_get_the_threads_ray_assigned():
    assert task_threads({"CPU": 2.0}) == 2 and task_threads({"CPU": 0.5}) == 1 and task_threads({}) == 1


def test_a_ray_task_runs_torch_on_its_num_cpus_and_waits_passively(monkeypatch):
    ray = pytest.importorskip("ray")

    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    executor = RayExecutor(num_cpus=2, cpus_per_task=2)
    try:
        got = {}
        units = [Unit("threads", "threads", torch.get_num_threads), Unit("wait", "wait", os.getenv, ("OMP_WAIT_POLICY",))]
        assert executor.run(units, lambda unit, value: got.__setitem__(unit.key, value), "probe", progress=False) == {}
        assert got == {"threads": 2, "wait": "PASSIVE"}
    finally:
        ray.shutdown()


def user_env(**given) -> dict:
    """This process's environment without thread or wait variables, plus ``given``."""
    drop = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", OLD_THREADS)
    return {k: v for k, v in os.environ.items() if k not in drop} | given


def run_entry(tmp_path, entry: list[str], *args, env: dict) -> tuple[dict, str]:
    """A tiny run of ``entry`` (run_all.py or -m noise) in a subprocess: its results.json and report.md."""
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, *entry, "--preset", "tiny", "--out", str(out), "--run-id", "r", "--quiet", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "r" / "results.json").read_text()), (out / "r" / "report.md").read_text()


def test_threads_flag_beats_omp_num_threads_and_reaches_results_and_report(tmp_path):
    results, report = run_entry(tmp_path, [str(ROOT / "run_all.py")], "--no-noise", "--seeds", "0", "--threads", "1",
                                env=user_env(OMP_NUM_THREADS="2"))
    env = results["environment"]
    assert env["cpu_threads"] == 1 and env["threads"]["count"] == 1 and env["threads"]["source"] == "threads setting"
    assert env["threads"]["openmp_wait"] in ("PASSIVE", "default")  # run_all.py chose by the load at start
    assert results["config"]["threads"] == 1 and describe(env["threads"]) in report


def test_python_m_noise_chooses_the_wait_and_a_users_policy_wins(tmp_path):
    noise = ["-m", "noise", "--levels", "0.5", "--methods", "erm", "--epochs", "1", "--threads", "1"]
    results, _ = run_entry(tmp_path / "a", noise, env=user_env())
    assert results["environment"]["threads"]["openmp_wait"] in ("PASSIVE", "default")  # by the load at start
    results, _ = run_entry(tmp_path / "b", noise, env=user_env(OMP_WAIT_POLICY="ACTIVE"))
    assert results["environment"]["threads"]["openmp_wait"] == "ACTIVE"


def test_the_threads_field_is_checked(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "run_all.py"), "--preset", "tiny", "--threads", "-1",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "threads must be" in done.stderr
    assert not (tmp_path / "out").exists()


def test_attack_numbers_do_not_depend_on_the_thread_count(tiny_models):
    """The attack stage's numbers on given models are the same on 1 and 2 threads (the workers split the
    same per-image work differently); training's float sums do depend on it (docs/benchmarks.md)."""
    def attack_cells(threads):
        results = robustness.evaluate(dict(tiny_models), "digits", ["fgsm", "pgd"], [0, 0.1], preset="tiny",
                                      overrides={"threads": threads}, device="cpu", progress=False)
        assert results["environment"]["threads"]["count"] == threads
        return results["attacks"]["cells"], {name: m["clean_error"] for name, m in results["models"].items()}

    saved = torch.get_num_threads()
    try:
        assert attack_cells(1) == attack_cells(2)
    finally:
        torch.set_num_threads(saved)


# --- the governor: fewer threads per unit while other processes keep the CPUs busy ---------------------------


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_governor_leaves_the_cpus_others_use_and_looks_again_only_after_its_interval():
    others, looks, clock = [0], [], FakeClock()

    def probe():
        looks.append(clock.now)
        return others[0]

    governor = ThreadGovernor(chosen=2, cpus=2, probe=probe, clock=clock, interval_s=1.0)
    assert governor.count() == 2  # idle: the chosen count
    others[0] = 1  # a busy loop starts
    assert governor.count() == 2 and looks == [0.0]  # not looked again within the interval
    clock.now = 1.0
    assert governor.count() == 1  # 2 CPUs, 1 taken: one thread, so no team waits on a descheduled thread
    others[0], clock.now = 5, 2.0
    assert governor.count() == 1  # never below one
    others[0], clock.now = 0, 3.0
    assert governor.count() == 2  # the load went: back to the chosen count
    assert governor.record() == {"units": 5, "units_on_fewer_threads": 2, "fewest_threads": 1, "units_in_worker_processes": 0}
    assert ThreadGovernor(2, 2, probe=lambda: None).count() == 2  # no /proc: the chosen count


def test_runnable_others_subtracts_this_processs_own_running_threads(tmp_path):
    tasks = tmp_path / "task"
    for tid, state in [(1, "R"), (2, "R"), (3, "S")]:
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (python3 (a) b) {state} 1 2 3\n")  # a name with ") " in it
    (tmp_path / "loadavg").write_text("0.50 0.40 0.30 5/120 999\n")
    assert own_runnable(tasks) == 2 and runnable_others(tmp_path / "loadavg", tasks, samples=2, gap_s=0) == 3
    assert runnable_others(tmp_path / "missing", tasks) is None


def test_the_machine_is_full_when_other_processes_runnable_threads_fill_every_cpu():
    assert ThreadGovernor(2, 2, probe=lambda: 2).full()  # two busy loops on 2 CPUs: one thread here gets 2/3 of a core
    assert not ThreadGovernor(2, 2, probe=lambda: 1).full()  # one: a thread here still gets a whole core
    assert not ThreadGovernor(2, 2, probe=lambda: None).full()  # no /proc: nothing known, nothing full


def test_the_setup_line_says_what_the_load_changed():
    record = {"count": 2, "reason": "2 CPUs", "openmp_wait": "default"}
    assert describe(record) == "2 threads (2 CPUs; OpenMP wait default)"
    quiet = {"units": 9, "units_on_fewer_threads": 0, "fewest_threads": 2, "units_in_worker_processes": 0}
    assert describe(record | {"adapted": quiet}) == "2 threads (2 CPUs; OpenMP wait default)"
    busy = quiet | {"units_on_fewer_threads": 1, "units_in_worker_processes": 12}
    assert describe(record | {"adapted": busy}).endswith(
        ", under load: 1 unit on fewer threads, 12 units in one-thread worker processes")


def test_only_a_count_the_suite_chose_is_governed(no_cgroup):
    assert choose_threads(0, environ={}, affinity=2, **no_cgroup).adaptive
    assert not choose_threads(1, environ={}, affinity=2, **no_cgroup).adaptive  # --threads 1
    assert not choose_threads(0, environ={"OMP_NUM_THREADS": "2"}, affinity=2, **no_cgroup).adaptive


def test_in_process_units_run_on_the_governors_count_and_results_say_how_many(one_thread, no_cgroup):
    governor = ThreadGovernor(chosen=2, cpus=2, probe=iter([0, 1]).__next__, clock=FakeClock(), interval_s=0.0)
    got = []
    units = [Unit(str(k), str(k), torch.get_num_threads) for k in range(2)]
    InProcess().governed(governor, torch.device("cpu")).run(units, lambda unit, count: got.append(count), "probe", progress=False)
    assert got == [2, 1]  # each unit saw the count the governor gave before it started
    choice = choose_threads(0, environ={}, affinity=2, **no_cgroup)
    assert thread_record(choice, governor)["adapted"] == {"units": 2, "units_on_fewer_threads": 1, "fewest_threads": 1,
                                                          "units_in_worker_processes": 0}
    assert "adapted" not in thread_record(choose_threads(1, environ={}, affinity=2, **no_cgroup), None)
