"""The device augmentation, and the training loop's device path (CUDA's settings, run on the CPU)."""

import pytest
import torch

from robustness.augment import random_crop_flip
from robustness.config import DataConfig, TrainConfig
from robustness.data import finish_split
from robustness.methods import parse_method
from robustness.train import DevicePlan, device_plan, fit, train_batch

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def windows(image: torch.Tensor, padding: int) -> list[torch.Tensor]:
    """Every crop a RandomCrop(padding) + horizontal flip can give, by brute force."""
    h, w = image.shape[-2:]
    padded = torch.nn.functional.pad(image, (padding,) * 4)
    crops = [padded[:, i : i + h, j : j + w] for i in range(2 * padding + 1) for j in range(2 * padding + 1)]
    return crops + [c.flip(-1) for c in crops]


def test_crop_keeps_size_and_dtype_and_each_output_is_a_window_of_the_padded_image():
    images = torch.randint(1, 256, (16, 3, 9, 7), dtype=torch.uint8)  # no zeros: padding is recognizable
    out = random_crop_flip(images, gen(), padding=2)
    assert out.shape == images.shape and out.dtype == torch.uint8
    for image, crop in zip(images, out):
        assert any(torch.equal(crop, w) for w in windows(image, 2))
    assert (out == 0).any()  # some crops reach into the zero padding


def test_flip_is_a_mirror_image_and_about_half_are_flipped():
    images = torch.rand(400, 1, 5, 6)
    out = random_crop_flip(images, gen(), padding=0)
    same = torch.tensor([torch.equal(o, i) for o, i in zip(out, images)])
    mirrored = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, images)])
    assert bool((same | mirrored).all()) and not bool((same & mirrored).any())
    assert 150 < int(mirrored.sum()) < 250
    assert torch.equal(random_crop_flip(images, gen(), padding=0, flip=False), images)


def test_crops_depend_on_the_generator_seed_only():
    images = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)
    assert torch.equal(random_crop_flip(images, gen(1)), random_crop_flip(images, gen(1)))
    assert not torch.equal(random_crop_flip(images, gen(1)), random_crop_flip(images, gen(2)))


def test_training_batches_keep_their_labels():
    # Each image is filled with its own label: after cropping, every non-padding pixel must still equal it.
    labels = torch.arange(50) % 10
    images = (labels + 1).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).contiguous()
    idx = torch.randperm(50, generator=gen())[:20]
    config = TrainConfig(augment=True, crop_padding=3)
    x, y = train_batch(images, labels, idx, config, DevicePlan(), gen())
    assert torch.equal(y, labels[idx])
    assert x.dtype == torch.float32 and x.shape == (20, 3, 8, 8)
    for image, label in zip(x, y):
        values = torch.unique((image * 255).round())
        assert set(values.tolist()) <= {0.0, float(label + 1)}


def test_device_plan_follows_the_device_unless_told():
    assert device_plan(TrainConfig(), CPU) == DevicePlan()
    cuda = device_plan(TrainConfig(), torch.device("cuda"))
    assert cuda.autocast_dtype == torch.bfloat16 and cuda.memory_format == torch.channels_last
    forced = device_plan(TrainConfig(precision="bf16", channels_last="on", compile=True), CPU)
    assert forced == DevicePlan(torch.bfloat16, torch.channels_last, True)


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
    step = TrainConfig(arch="mlp", epochs=4, batch_size=20, lr=0.1, milestones=(0.5, 0.75))
    lrs = [row["lr"] for row in fit("mlp", parse_method("erm"), tiny_images, 0, step, CPU).history]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.001])
