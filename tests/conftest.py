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


@pytest.fixture
def one_thread():
    """One intra-op thread for tests that train small nets: they gain nothing from two, and on a shared,
    loaded machine two threads spinning against each other made one test 30× slower (165 s vs 5 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
