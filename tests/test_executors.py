"""Executors run units and hand each result to the driver as it finishes."""

import sys
from pathlib import Path

import pytest

from robustness.errors import SuiteError
from robustness.executors import InProcess, Unit, make_executor


def square(x):
    return x * x


def fail_once(marker: str, value):
    """Fails on the first call (leaving a marker file), succeeds on the retry."""
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError("injected failure")
    return value


def always_fail(value):
    raise ValueError(f"bad unit {value}")


def test_in_process_runs_in_order_and_reports_each_result():
    done = []
    failures = InProcess().run([Unit(str(i), f"u{i}", square, (i,)) for i in range(4)], lambda u, r: done.append((u.key, r)), "t", False)
    assert done == [("0", 0), ("1", 1), ("2", 4), ("3", 9)] and failures == {}



def test_unknown_executor_is_a_one_line_error():
    with pytest.raises(SuiteError, match="unknown executor 'dask'; choose one of: auto, in-process, processes, ray"):
        make_executor("dask")


def test_missing_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(SuiteError, match=r"pip install -e '\.\[ray\]'"):
        make_executor("ray")


@pytest.fixture(scope="module")
def ray_executor():
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import this test file
    executor = make_executor("ray")
    yield executor
    ray.shutdown()


def test_ray_runs_every_unit(ray_executor):
    done = {}
    failures = ray_executor.run([Unit(str(i), f"u{i}", square, (i,)) for i in range(5)], lambda u, r: done.update({u.key: r}), "t", False)
    assert done == {str(i): i * i for i in range(5)} and failures == {}


def test_ray_retries_a_failed_task_once_and_finishes_the_rest(ray_executor, tmp_path):
    units = [Unit("flaky", "flaky", fail_once, (str(tmp_path / "marker"), 7)),
             Unit("broken", "broken unit", always_fail, (3,)),
             Unit("fine", "fine", square, (4,))]
    done = {}
    failures = ray_executor.run(units, lambda u, r: done.update({u.key: r}), "t", False)
    assert done == {"flaky": 7, "fine": 16}
    assert list(failures) == ["broken"] and "ValueError: bad unit 3" in failures["broken"]
    assert (tmp_path / "marker").exists()
