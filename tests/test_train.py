import pytest
import torch

from robustness.config import TrainConfig
from robustness.data import load
from robustness.config import DataConfig
from robustness.methods import parse_method
from robustness.models import MODELS, build_model
from robustness.train import fit

CPU = torch.device("cpu")


def test_same_seed_same_weights_and_numbers_on_cpu(digits):
    cfg = TrainConfig(epochs=2)
    a = fit("digits_cnn", parse_method("mixup:1"), digits, 5, cfg, CPU)
    b = fit("digits_cnn", parse_method("mixup:1"), digits, 5, cfg, CPU)
    for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(x, y)
    assert a.history == b.history


def test_other_seed_other_weights(digits):
    cfg = TrainConfig(epochs=1)
    a = fit("digits_cnn", parse_method("erm"), digits, 0, cfg, CPU)
    b = fit("digits_cnn", parse_method("erm"), digits, 1, cfg, CPU)
    assert not torch.equal(a.model[1][0].weight, b.model[1][0].weight)


def test_training_leaves_global_rng_alone(digits):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit("digits_cnn", parse_method("erm"), digits, 0, TrainConfig(epochs=1), CPU)
    assert torch.equal(torch.rand(3), expected)


def test_training_learns_digits(digits):
    trained = fit("digits_cnn", parse_method("erm"), digits, 0, TrainConfig(epochs=8), CPU)
    assert trained.history[-1]["test_error"] < 0.1  # chance is 0.9
    assert [row["epoch"] for row in trained.history] == list(range(1, 9))
    assert trained.history[-1]["lr"] < trained.history[0]["lr"]  # the step schedule ran
    assert not trained.model.training


@pytest.mark.parametrize("arch", list(MODELS))
def test_every_model_maps_pixels_to_n_by_c_logits(arch, digits):
    model = build_model(arch, digits.input_shape, digits.num_classes, digits.mean, digits.std)
    out = model(digits.test_x[:7])
    assert out.shape == (7, digits.num_classes)


def test_models_normalize_inside_forward(digits):
    model = build_model("mlp", digits.input_shape, 10, digits.mean, digits.std)
    normalized = model[0](digits.train_x)
    assert normalized.mean().abs() < 1e-4 and (normalized.std() - 1).abs() < 0.05


@pytest.mark.parametrize("name", ["digits"])  # the others need files: tests/test_data.py writes them
def test_every_data_set_is_pixels_in_unit_range_with_a_stratified_split(name):
    split = load(DataConfig(name=name))
    for x in (split.train_x, split.test_x):
        assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1 and x.dim() == 4
    train_share = torch.bincount(split.train_y) / len(split.train_y)
    test_share = torch.bincount(split.test_y) / len(split.test_y)
    assert (train_share - test_share).abs().max() < 0.02
    assert load(DataConfig(name=name)).test_y.tolist() == split.test_y.tolist()  # fixed split


def test_digits_split_sizes():
    split = load(DataConfig())
    assert (len(split.train_y), len(split.test_y)) == (1257, 540) and split.num_classes == 10
