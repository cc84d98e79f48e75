"""The training loop (robustness/train.py): determinism, learning, the device plan, schedules and batches."""

import pytest
import torch

from robustness.config import DataConfig, TrainConfig
from robustness.data import finish_split
from robustness.methods import parse_method
from robustness.models import MODELS, build_model
from robustness.train import DevicePlan, device_plan, fit, train_batch

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
    lrs = [row["lr"] for row in trained.history]
    assert lrs[-1] < max(lrs) and lrs[0] < max(lrs)  # the one-cycle schedule ran: up, then down
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


def test_device_plan_follows_the_device_unless_told():
    assert device_plan(TrainConfig(), CPU) == DevicePlan(None, torch.channels_last)  # fp32, channels_last
    assert device_plan(TrainConfig(channels_last="off"), CPU) == DevicePlan()
    cuda = device_plan(TrainConfig(), torch.device("cuda"))
    assert cuda.autocast_dtype == torch.bfloat16 and cuda.memory_format == torch.channels_last
    forced = device_plan(TrainConfig(precision="bf16", channels_last="on", compile=True), CPU)
    assert forced == DevicePlan(torch.bfloat16, torch.channels_last, True)


def test_the_cuda_path_on_the_cpu_learns_and_keeps_channels_last(tiny_images):
    config = TrainConfig(arch="digits_cnn", epochs=6, batch_size=16, lr=0.05)
    trained = fit(config.arch, parse_method("erm"), tiny_images, 0, config, CPU, plan=CUDA_PATH_ON_CPU)
    conv = trained.model[1][0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert conv.weight.dtype == torch.float32  # autocast computes in bf16; the weights stay fp32
    assert trained.history[-1]["test_error"] < 0.34  # chance is 0.67
    fp32 = fit(config.arch, parse_method("erm"), tiny_images, 0, config, CPU)
    assert fp32.history[0]["loss"] != trained.history[0]["loss"]  # bf16 really was used
    assert fp32.history[0]["loss"] == pytest.approx(trained.history[0]["loss"], rel=0.05)


def test_onecycle_rises_then_falls_and_step_divides_by_ten(tiny_images):
    onecycle = TrainConfig(arch="mlp", epochs=5, batch_size=20, lr=0.1, schedule="onecycle", warmup=0.4)
    lrs = [row["lr"] for row in fit("mlp", parse_method("erm"), tiny_images, 0, onecycle, CPU).history]
    peak = lrs.index(max(lrs))
    assert 0 < peak < 4 and lrs[0] < 0.1 and max(lrs) <= 0.1 and lrs[-1] < lrs[peak]
    step = TrainConfig(arch="mlp", epochs=4, batch_size=20, lr=0.1, milestones=(0.5, 0.75), schedule="step")
    lrs = [row["lr"] for row in fit("mlp", parse_method("erm"), tiny_images, 0, step, CPU).history]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.001])


def test_training_batches_keep_their_labels():
    # Each image is filled with its own label: after cropping, every non-padding pixel must still equal it.
    labels = torch.arange(50) % 10
    images = (labels + 1).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).contiguous()
    idx = torch.randperm(50, generator=torch.Generator().manual_seed(0))[:20]
    config = TrainConfig(augment=True, crop_padding=3)
    x, y = train_batch(images, labels, idx, config, DevicePlan(), torch.Generator().manual_seed(0))
    assert torch.equal(y, labels[idx])
    assert x.dtype == torch.float32 and x.shape == (20, 3, 8, 8)
    for image, label in zip(x, y):
        values = torch.unique((image * 255).round())
        assert set(values.tolist()) <= {0.0, float(label + 1)}


@pytest.fixture(scope="module")
def tiny_images():
    """60 training and 30 test uint8 images, 3×12×12, whose class is their brightest channel."""
    torch.manual_seed(0)
    y = torch.arange(90) % 3
    x = torch.randint(0, 120, (90, 3, 12, 12), dtype=torch.uint8)
    x[torch.arange(90), y] += 120
    return finish_split("tiny-rgb", (x[:60], y[:60]), (x[60:], y[60:]), ["r", "g", "b"], DataConfig())


CUDA_PATH_ON_CPU = DevicePlan(torch.bfloat16, torch.channels_last)


@pytest.mark.parametrize("plan", [None, CUDA_PATH_ON_CPU], ids=["cpu-plan", "cuda-plan-on-cpu"])
def test_augmented_training_is_deterministic_on_the_cpu(tiny_images, plan):
    config = TrainConfig(arch="fast_resnet_small", epochs=2, batch_size=16, lr=0.05, augment=True, crop_padding=2,
                         schedule="onecycle")
    runs = [fit(config.arch, parse_method("mixup:1"), tiny_images, 3, config, CPU, plan=plan) for _ in range(2)]
    for a, b in zip(runs[0].model.state_dict().values(), runs[1].model.state_dict().values()):
        assert torch.equal(a, b)
    assert runs[0].history == runs[1].history
    other = fit(config.arch, parse_method("mixup:1"), tiny_images, 4, config, CPU, plan=plan)
    assert other.history != runs[0].history
