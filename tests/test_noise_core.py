"""corrupt and the noise-model registry (noise/core.py): rates, determinism, confusion, test labels untouched."""

import math
from dataclasses import replace

import pytest
import torch
from conftest import run_noise

from noise import NOISE_MODELS, corrupt
from robustness.config import NoiseConfig
from robustness.presets import PRESETS
from robustness.errors import SuiteError

C = 10
pytestmark = pytest.mark.usefixtures("one_thread")


def labels(n=20000):
    return torch.arange(n) % C


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_uniform_realized_rate_within_sampling_error(p):
    y = labels()
    noisy = corrupt(y, f"uniform:{p}", C, seed=0)
    n = len(y)
    # Replaced share ~ Binomial(n, p); wrong share ~ Binomial(n, p·(C−1)/C). Allow 5 standard errors.
    for observed, expected in ((noisy.replaced_share, p), (noisy.realized_rate, p * (C - 1) / C)):
        assert abs(observed - expected) <= 5 * math.sqrt(expected * (1 - expected) / n) + 1e-12
    measured = float((noisy.labels != y).float().mean())
    assert noisy.realized_rate == pytest.approx(measured)
    # Only replaced examples may change; replacement draws are uniform over all classes.
    assert torch.equal(noisy.labels[~noisy.replaced], y[~noisy.replaced])


def test_same_seed_same_labels_other_seed_other_labels():
    y = labels(5000)
    a, b, c = (corrupt(y, "uniform:0.5", C, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.labels, b.labels) and torch.equal(a.replaced, b.replaced)
    assert not torch.equal(a.labels, c.labels)


def test_input_labels_are_never_modified():
    y = labels(1000)
    before = y.clone()
    corrupt(y, "uniform:0.8", C, seed=0)
    assert torch.equal(y, before)


def test_confusion_counts_true_against_noisy():
    y = labels(3000)
    noisy = corrupt(y, "uniform:0.5", C, seed=0)
    confusion = torch.tensor(noisy.confusion)
    assert confusion.sum() == len(y)
    assert confusion.sum(1).tolist() == torch.bincount(y, minlength=C).tolist()
    assert 1 - confusion.trace() / len(y) == pytest.approx(noisy.realized_rate)


@pytest.mark.parametrize("spec", ["uniform:1.5", "uniform:-0.1", "uniform:x", "uniform:"])
def test_bad_noise_spec_is_a_one_line_error(spec):
    with pytest.raises(SuiteError):
        corrupt(labels(10), spec, C, seed=0)


def test_every_noise_model_is_deterministic_and_keeps_length(example_specs):
    assert set(example_specs) == set(NOISE_MODELS)  # a new model needs an example spec in conftest
    y = labels(500)
    for spec in example_specs.values():
        a, b = corrupt(y, spec, C, seed=0), corrupt(y, spec, C, seed=0)
        assert torch.equal(a.labels, b.labels) and torch.equal(a.replaced, b.replaced) and len(a.labels) == 500
        assert a.labels.dtype == torch.int64 and int(a.labels.min()) >= 0 and int(a.labels.max()) < C
        # The recorded rate and confusion are those of the labels returned.
        assert a.realized_rate == pytest.approx(float((a.labels != y).float().mean()))
        assert torch.tensor(a.confusion).sum(1).tolist() == torch.bincount(y, minlength=C).tolist()


def test_benchmark_never_touches_test_labels(digits):
    config = replace(PRESETS["tiny"], noise=NoiseConfig(levels=(0.8,), methods=("erm",), epochs=1))
    test_before, train_before = digits.test_y.clone(), digits.train_y.clone()
    result = run_noise(config, digits)
    assert torch.equal(digits.test_y, test_before) and torch.equal(digits.train_y, train_before)
    run = result["runs"][0]
    assert run["noise"]["realized_rate"] > 0.5  # 80% replaced -> ~72% wrong
    assert len(run["history"]) == 1 and run["last_train_error_corrupted"] is not None
