import os
from contextlib import contextmanager

# Before torch loads: waiting OpenMP threads sleep, as run_all.py makes them on a busy machine (a test run is one),
# and the subprocess runs inherit it, so that they and the in-process runs record the same wait.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from robustness.presets import PRESETS  # noqa: E402
from robustness.data import load  # noqa: E402
from robustness.executors import InProcess  # noqa: E402
from robustness.methods import parse_method  # noqa: E402
from robustness.stages.label_noise import noise_stage  # noqa: E402
from robustness.threads import choose_threads  # noqa: E402
from robustness.train import fit  # noqa: E402
from robustness.units import UnitStore  # noqa: E402

CPU = torch.device("cpu")
MAX_WORKERS = 4  # pytest-xdist workers at most: each holds torch and the session fixtures (about 1.5 GB)


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pyproject's addopts): one worker per CPU this process may use (affinity mask, cgroup quota:
    robustness/threads.py), at most MAX_WORKERS. Most tests train or attack on one thread or start a one-thread
    subprocess, so on CI's 2 cores two workers take about half the time of one."""
    return max(1, min(MAX_WORKERS, choose_threads(0, environ={}).count))


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


@pytest.fixture(scope="session")
def batch(digits):
    """128 digits test images and labels, for attack tests."""
    return digits.test_x[:128], digits.test_y[:128]


class Rounded(nn.Module):
    """Masks gradients: rounds its input to 0/1 first, so ∇x is exactly zero (what the sanity checks must catch)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x))


class Noisy(nn.Module):
    """A randomized model: noise on the logits, so two forward passes disagree."""

    def __init__(self, model: nn.Module, scale: float = 5.0):
        super().__init__()
        self.model, self.scale = model, scale

    def forward(self, x):
        logits = self.model(x)
        return logits + self.scale * torch.randn_like(logits)


class Softmaxed(nn.Module):
    """Returns probabilities, not logits: a softmax at the end of the forward (what the reference's checks flag)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).softmax(1)


class Scaled(nn.Module):
    """Logits multiplied by ``scale``: the softmax saturates, so the cross-entropy's input gradient underflows to
    exactly zero on the images it gets right (the DLR loss, scale-free, still has one)."""

    def __init__(self, model: nn.Module, scale: float = 1e4):
        super().__init__()
        self.model, self.scale = model, scale

    def forward(self, x):
        return self.scale * self.model(x)


class Purifying(nn.Module):
    """A dynamic defense: its forward takes one signed-gradient step on the input (lowering the prediction's
    entropy) before classifying, so it calls torch.autograd.grad at inference."""

    def __init__(self, model: nn.Module, step: float = 0.01):
        super().__init__()
        self.model, self.step = model, step

    def forward(self, x):
        with torch.enable_grad():
            probe = x.detach().requires_grad_(True)
            probs = self.model(probe).softmax(1)
            entropy = -(probs * probs.clamp_min(1e-12).log()).sum()
            (grad,) = torch.autograd.grad(entropy, probe)
        return self.model((x - self.step * grad.sign()).clamp(0, 1))


@pytest.fixture(scope="session")
def robust_model(digits):
    """A digits model adversarially trained (PGD-AT at ε = 0.1, 3 epochs), trained on one thread: the agreement test
    compares attacks on it."""
    with single_thread():
        return fit("digits_cnn", parse_method("pgd_at:0.1"), digits, 0, PRESETS["tiny"].train, CPU, epochs=3).model.eval()


@pytest.fixture(scope="session")
def masked_model(tiny_models):
    """The trained ERM digits model behind a rounding step: zero input gradient."""
    return Rounded(tiny_models["erm_s0"]).eval()


@pytest.fixture(scope="session")
def noisy_model(tiny_models):
    """The trained ERM digits model with random logits."""
    return Noisy(tiny_models["erm_s0"]).eval()


@pytest.fixture
def example_specs(tmp_path):
    """One valid spec per registered noise model, for tests that loop over the registry (10 classes, 500 labels)."""
    import numpy as np

    transition = np.full((10, 10), 0.3 / 9)
    np.fill_diagonal(transition, 0.7)
    np.save(tmp_path / "transition.npy", transition)
    np.save(tmp_path / "labels.npy", (np.arange(500) * 3) % 10)
    return {
        "uniform": "uniform:0.3",
        "symmetric": "symmetric:0.3",
        "pairflip": "pairflip:0.3",
        "matrix": f"matrix:{tmp_path / 'transition.npy'}",
        "labels": f"labels:{tmp_path / 'labels.npy'}",
    }


@contextmanager
def torch_threads(count: int):
    """Torch on ``count`` intra-op threads inside, the caller's count again after. OMP_NUM_THREADS says the same
    inside, so that a run of the suite in this process chooses ``count`` too (robustness/threads.py), as a
    subprocess run with that variable does."""
    threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(count)
    os.environ["OMP_NUM_THREADS"] = str(count)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = omp


def single_thread():
    """One intra-op thread while training small nets: they gain nothing from two, and on a shared, loaded
    machine two threads spinning against each other made one test 30× slower (165 s vs 5 s). Float sums
    depend on the thread count, so a fixture that trains numbers a test later compares must train inside
    this itself: a function-scoped fixture runs after the module-scoped ones."""
    return torch_threads(1)


@pytest.fixture
def one_thread():
    with single_thread():
        yield


def run_noise(config, split) -> dict:
    """The label-noise stage of the pipeline, in memory (no run directory), on one thread: results.json's ``noise``."""
    with single_thread():
        return noise_stage(config, split, UnitStore(None), InProcess(), CPU, progress=False)

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
    two runs from two directories have the same configuration, byte for byte), on one thread: float sums
    depend on the thread count, and tests compare these runs with each other and with in-process ones."""
    return subprocess.run(
        [sys.executable, str(ROOT / "run_all.py"), "--config", str(toml), "--out", "reports", "--run-id", "small",
         "--quiet", *extra],
        cwd=cwd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
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
