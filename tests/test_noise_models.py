"""symmetric, pairflip, matrix and labels: rates, what moves where, files, and one-line errors."""

import math

import numpy as np
import pytest
import torch

from noise import NOISE_MODELS, check_spec, corrupt
from robustness.errors import SuiteError

C = 10


def labels(n=20000):
    return torch.arange(n) % C


def within_sampling_error(observed, expected, n, sigmas=5):
    return abs(observed - expected) <= sigmas * math.sqrt(expected * (1 - expected) / n) + 1e-12


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_symmetric_flips_exactly_p_each_to_another_class(p):
    y = labels()
    noisy = corrupt(y, f"symmetric:{p}", C, seed=0)
    assert noisy.realized_rate == noisy.replaced_share == round(p * len(y)) / len(y)
    assert torch.equal(noisy.replaced, noisy.labels != y)  # every replaced label is wrong
    # The new class is uniform over the C−1 others: each off-diagonal cell near n·p/(C(C−1)).
    confusion = np.array(noisy.confusion)
    off = confusion[~np.eye(C, dtype=bool)]
    if p > 0:
        expected = len(y) * p / (C * (C - 1))
        assert np.all(np.abs(off - expected) <= 6 * math.sqrt(expected) + 1)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.45, 1.0])
def test_pairflip_only_moves_i_to_i_plus_one(p):
    y = labels(5000)
    noisy = corrupt(y, f"pairflip:{p}", C, seed=0)
    moved = noisy.labels != y
    assert torch.equal(noisy.labels[moved], (y[moved] + 1) % C)
    confusion = np.array(noisy.confusion)
    allowed = np.eye(C, dtype=bool) | np.roll(np.eye(C, dtype=bool), 1, axis=1)
    assert confusion[~allowed].sum() == 0
    # A share p of every class, up to rounding.
    per_class = confusion[np.arange(C), (np.arange(C) + 1) % C] / confusion.sum(1)
    assert np.allclose(per_class, p, atol=1 / 500)


def test_matrix_identity_leaves_labels_intact(tmp_path):
    path = tmp_path / "identity.npy"
    np.save(path, np.eye(C))
    y = labels(3000)
    noisy = corrupt(y, f"matrix:{path}", C, seed=0)
    assert torch.equal(noisy.labels, y) and noisy.realized_rate == 0 and not noisy.replaced.any()


def test_matrix_rows_are_followed_within_sampling_error(tmp_path):
    rng = np.random.default_rng(0)
    transition = rng.dirichlet(np.ones(C), size=C)
    path = tmp_path / "t.csv"
    np.savetxt(path, transition, delimiter=",", fmt="%.12f")
    y = labels(50000)
    noisy = corrupt(y, f"matrix:{path}", C, seed=3)
    confusion = np.array(noisy.confusion)
    n_row = confusion.sum(1, keepdims=True)
    assert np.all(np.abs(confusion / n_row - transition) <= 5 * np.sqrt(transition * (1 - transition) / n_row) + 1e-9)
    assert torch.equal(noisy.replaced, noisy.labels != y)


@pytest.mark.parametrize("suffix", [".npy", ".pt", ".csv"])
def test_labels_file_round_trips(tmp_path, suffix):
    y = labels(777)
    mine = (y * 7 + 3) % C
    path = tmp_path / f"mine{suffix}"
    if suffix == ".npy":
        np.save(path, mine.numpy())
    elif suffix == ".pt":
        torch.save(mine, path)
    else:
        path.write_text("label\n" + "\n".join(map(str, mine.tolist())) + "\n")  # a header line is skipped
    noisy = corrupt(y, f"labels:{path}", C, seed=0)
    assert torch.equal(noisy.labels, mine)
    assert torch.equal(noisy.replaced, mine != y)
    assert noisy.realized_rate == pytest.approx(float((mine != y).float().mean()))


def bad_files(tmp_path):
    """(spec, message) for files that cannot be right."""
    np.save(tmp_path / "rows.npy", np.full((C, C), 0.2))
    np.save(tmp_path / "neg.npy", np.eye(C) * 2 - np.roll(np.eye(C), 1, axis=1))
    np.save(tmp_path / "rect.npy", np.ones((C, 2)) / 2)
    np.save(tmp_path / "small.npy", np.eye(3))
    np.save(tmp_path / "short.npy", np.zeros(5, dtype=np.int64))
    np.save(tmp_path / "big.npy", np.full(100, C))
    np.save(tmp_path / "frac.npy", np.full(100, 0.5))
    (tmp_path / "junk.csv").write_text("1,2\nthree,4\n")
    (tmp_path / "y.json").write_text("[1, 2]")
    return [
        (f"matrix:{tmp_path / 'rows.npy'}", "sums to 2, not 1"),
        (f"matrix:{tmp_path / 'neg.npy'}", "negative"),
        (f"matrix:{tmp_path / 'rect.npy'}", "not C×C"),
        (f"matrix:{tmp_path / 'small.npy'}", "data set has 10 classes"),
        (f"matrix:{tmp_path / 'missing.npy'}", "file not found"),
        (f"labels:{tmp_path / 'short.npy'}", "has 5 labels but the training split has 100"),
        (f"labels:{tmp_path / 'big.npy'}", "class id 10"),
        (f"labels:{tmp_path / 'frac.npy'}", "not class ids"),
        (f"labels:{tmp_path / 'junk.csv'}", "cannot be read"),
        (f"labels:{tmp_path / 'y.json'}", "unknown file type"),
        ("matrix:", "needs a file"),
        ("symmetric:1.5", "outside [0, 1]"),
        ("pairflip:-0.1", "outside [0, 1]"),
        ("pairflip:half", "needs a probability"),
        ("gauss:0.2", "unknown noise model 'gauss'"),
    ]


def test_impossible_specs_are_one_line_errors(tmp_path):
    for spec, message in bad_files(tmp_path):
        with pytest.raises(SuiteError, match=None) as err:
            corrupt(labels(100), spec, C, seed=0)
        assert message in str(err.value) and "\n" not in str(err.value), spec


def test_parameter_errors_are_caught_before_the_data_is_known(tmp_path):
    """check_spec (run by config validation) catches what needs no data: rates, files, row sums."""
    for spec, message in bad_files(tmp_path):
        if "training split" in message or "data set has" in message or message == "class id 10":
            check_spec(spec)  # needs the data's size or classes: caught by corrupt, before training
            continue
        with pytest.raises(SuiteError, match=None) as err:
            check_spec(spec)
        assert message in str(err.value), spec


def test_config_validation_rejects_a_bad_spec_before_training(tmp_path):
    from robustness.validation import load_config

    with pytest.raises(SuiteError, match="row 0 sums to"):
        np.save(tmp_path / "rows.npy", np.full((C, C), 0.2))
        load_config("tiny", flags={"noise": {"specs": [f"matrix:{tmp_path / 'rows.npy'}"]}})
    config = load_config("tiny", flags={"noise": {"specs": ["pairflip:0.3"], "levels": []}})
    assert config.noise.specs == ("pairflip:0.3",)


def test_every_model_is_registered():
    assert {"uniform", "symmetric", "pairflip", "matrix", "labels"} <= set(NOISE_MODELS)
