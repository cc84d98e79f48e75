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
def one_thread():
    """One intra-op thread for the test: on a shared, oversubscribed CPU two threads ran
    small convolutions up to 13× slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
