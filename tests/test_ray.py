"""--executor ray: the same results as in-process on a local Ray instance, and resume skips finished units."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, run_small

from robustness.results import without_timing

pytest.importorskip("ray")


def comparable(run_dir):
    """results.json less what legitimately differs between executors: timing, run id, environment."""
    results = without_timing(json.loads((run_dir / "results.json").read_text()))
    return {k: v for k, v in results.items() if k not in ("run_id", "environment")}


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory, small_toml):
    cwd = tmp_path_factory.mktemp("ray")
    # One thread in the driver too (run_small's default): it computes the diagnostics and the between points.
    done = run_small(cwd, small_toml, "--executor", "ray")
    assert done.returncode == 0, done.stderr
    return cwd / "reports" / "small"


def test_ray_gives_the_same_results_as_in_process(small_run, ray_run):
    # Ray gives each task one CPU (OMP_NUM_THREADS=1); float sums depend on the thread count,
    # so the in-process reference (conftest.small_run) runs on one thread too.
    assert comparable(ray_run) == comparable(small_run)
    environment = json.loads((ray_run / "results.json").read_text())["environment"]
    assert environment["executor"] == "ray" and environment["device"] == "cpu"


def test_a_ray_rerun_resubmits_nothing(ray_run, small_toml):
    done = run_small(ray_run.parents[1], small_toml, "--executor", "ray")
    assert done.returncode == 0, done.stderr
    assert json.loads((ray_run / "results.json").read_text())["timing"]["units"] == {"computed": 0, "reused": 7}


def test_the_default_executor_never_imports_ray():
    code = ("import sys, robustness.cli, robustness.suite; from robustness.executors import make_executor; "
            "make_executor('in-process'); assert 'ray' not in sys.modules, 'ray was imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_ray_address_without_the_ray_executor_is_refused(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "run_all.py"), "--ray-address", "auto", "--out", str(tmp_path)],
                          capture_output=True, text=True, env={**os.environ})
    assert done.returncode == 2 and "--ray-address needs --executor ray" in done.stderr
