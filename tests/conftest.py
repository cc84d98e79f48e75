import pytest
import torch

from robustness.config import PRESETS
from robustness.data import load
from robustness.methods import parse_method
from robustness.train import fit

CPU = torch.device("cpu")


@pytest.fixture(scope="session")
def digits():
    return load(PRESETS["tiny"].data)


@pytest.fixture(scope="session")
def tiny_models(digits):
    """Two quickly trained digits models (ERM and mixup), for attack tests."""
    cfg = PRESETS["tiny"].train
    return {
        "erm_s0": fit("digits_cnn", parse_method("erm"), digits, 0, cfg, CPU, epochs=3).model,
        "mixup_a1_s0": fit("digits_cnn", parse_method("mixup:1"), digits, 0, cfg, CPU, epochs=3).model,
    }


# --- a small finished run, shared by the resume, fault, bad-input and determinism tests ---

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL_TOML = """preset = "tiny"
[train]
epochs = 1
[clean]
methods = ["erm", "mixup:1"]
seeds = [0]
[attack]
attacks = ["fgsm"]
eps = [0, 0.1]
[noise]
levels = [0.5]
methods = ["erm"]
epochs = 1
"""


def run_small(cwd: Path, toml: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """run_all.py on the small configuration, from ``cwd``, into ``cwd/reports/small`` (a relative --out, so
    two runs from two directories have the same configuration, byte for byte)."""
    import os

    return subprocess.run(
        [sys.executable, str(ROOT / "run_all.py"), "--config", str(toml), "--out", "reports", "--run-id", "small",
         "--quiet", *extra],
        cwd=cwd, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def small_toml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "small.toml"
    path.write_text(SMALL_TOML)
    return path


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, small_toml) -> Path:
    """An uninterrupted run of the small configuration in a subprocess; returns its run directory."""
    cwd = tmp_path_factory.mktemp("reference")
    done = run_small(cwd, small_toml)
    assert done.returncode == 0, done.stderr
    return cwd / "reports" / "small"
