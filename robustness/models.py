"""Architectures. Every model takes pixels in [0, 1] and normalizes inside its
own forward, so every ε is in pixel space and attacks treat all models alike.

A registered function ``build(input_shape, num_classes, dropout) -> nn.Module``
returns the body; ``build_model`` puts ``Normalize`` in front of it. Every body
declares its *mix points* (``body.mix_points``: names of its modules whose output
a method such as manifold mixup may mix, shallow to deep); ``mix_points(model)``
puts "input" (the pixels) first.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from robustness.errors import SuiteError
from robustness.registry import lookup, make_register

MODELS: dict[str, Callable[..., nn.Module]] = {}
register_model = make_register(MODELS, "model")

# Architectures made for small images, with the largest side they are meant for: digits_cnn keeps full
# resolution through both convolutions and flattens it into its hidden layer, so on 32×32 images an epoch
# of 5,000 images takes half a minute on a CPU and a default run hours.
LARGEST_SIDE = {"digits_cnn": 16}


class Normalize(nn.Module):
    """(x - mean) / std per channel; buffers, so they move with the model and are saved with it."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@register_model("digits_cnn")
def digits_cnn(input_shape: Sequence[int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    """Two 3×3 convolutions, one 2×2 pool, one hidden layer: ~0.1 M weights for 8×8 digits.

    ``dropout`` sits after the hidden layer's ReLU, the small-net equivalent of
    the paper's one dropout per block between two convolutions.
    """
    channels, height, width = input_shape
    body = nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (height // 2) * (width // 2), 128),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(128, num_classes),
    )
    body.mix_points = ("1", "4")  # after the first convolution's ReLU, after the pool
    return body


@register_model("mlp")
def mlp(input_shape: Sequence[int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    """One hidden layer of 256 units: the smallest sensible baseline."""
    inputs = int(torch.tensor(input_shape).prod())
    body = nn.Sequential(nn.Flatten(), nn.Linear(inputs, 256), nn.ReLU(), nn.Dropout(dropout), nn.Linear(256, num_classes))
    body.mix_points = ("2",)  # the hidden layer, after its ReLU
    return body


class PreActBlock(nn.Module):
    """The paper's pre-activation basic block (facebookresearch/mixup-cifar10, models/resnet.py).

    BN-ReLU, then conv3×3 (stride), BN-ReLU, [dropout: the paper's dropout baseline, one
    per block after the ReLU between the two convolutions], conv3×3, plus the shortcut.
    As in that code the shortcut takes the pre-activated input, and is a 1×1 convolution
    (no BN) where the shape changes, the identity elsewhere.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + shortcut


class PreActResNet(nn.Module):
    """The paper's "ResNet18": conv3×3(64)-BN-ReLU stem, PreActBlocks [2, 2, 2, 2] at widths
    64/128/256/512 (strides 1/2/2/2), average pool, linear; no final BN, as in its code.

    The pool is adaptive, which equals the code's ``avg_pool2d(out, 4)`` on 32×32 (and
    28×28) inputs and also accepts other sizes.
    """

    def __init__(self, in_channels: int, num_classes: int, blocks: Sequence[int] = (2, 2, 2, 2), dropout: float = 0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, in_planes = [], 64
        for planes, stride, count in zip((64, 128, 256, 512), (1, 2, 2, 2), blocks):
            for s in [stride] + [1] * (count - 1):
                layers.append(PreActBlock(in_planes, planes, s, dropout))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(512, num_classes)
        # The ends of the first two stages: manifold mixup's layers 1 and 2 for PreAct ResNets (Verma et al.).
        self.mix_points = (f"layers.{blocks[0] - 1}", f"layers.{blocks[0] + blocks[1] - 1}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


@register_model("preact_resnet18")
def preact_resnet18(input_shape: Sequence[int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    """PreAct ResNet-18 exactly as the mixup paper's CIFAR-10 code (11.2 M weights); ``dropout``
    inside every block after the ReLU between its two convolutions."""
    return PreActResNet(input_shape[0], num_classes, (2, 2, 2, 2), dropout)


def conv_bn(c_in: int, c_out: int, pool: bool = False) -> nn.Sequential:
    """conv3×3 → [max-pool 2] → BN → ReLU: the unit of the fast network."""
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
    layers += [nn.MaxPool2d(2, ceil_mode=True)] if pool else []  # ceil: odd sizes too
    return nn.Sequential(*layers, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """x + body(x)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FastResNet(nn.Module):
    """The ResNet-9 of the fast CIFAR-10 training line (Page's DAWNBench net, airbench's
    ancestor): prep, then three pooled stages, two of them with a residual pair of
    conv-BN-ReLU units, a global max pool and a linear layer scaled by 1/8.

    ``width`` sets the first stage (64 in the original: 6.6 M weights); the stages double it.
    ``early_pool`` halves the resolution right after the prep layer (5× fewer operations,
    for CPUs). ``dropout`` sits inside each residual pair, between its two units.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 64, dropout: float = 0.0, early_pool: bool = False):
        super().__init__()
        w1, w2, w3 = 2 * width, 4 * width, 8 * width

        def residual(c: int) -> Residual:
            return Residual(nn.Sequential(conv_bn(c, c), nn.Dropout(dropout) if dropout > 0 else nn.Identity(), conv_bn(c, c)))

        self.features = nn.Sequential(
            conv_bn(in_channels, width), *([nn.MaxPool2d(2, ceil_mode=True)] if early_pool else []),
            conv_bn(width, w1, pool=True), residual(w1),
            conv_bn(w1, w2, pool=True),
            conv_bn(w2, w3, pool=True), residual(w3),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        )
        self.linear = nn.Linear(w3, num_classes, bias=False)
        first = 3 if early_pool else 2  # the first residual pair, then the second stage
        self.mix_points = (f"features.{first}", f"features.{first + 1}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x)) * 0.125  # the scale keeps early logits small, as in the original


@register_model("fast_resnet")
def fast_resnet(input_shape: Sequence[int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    """ResNet-9 at full width (64-128-256-512): ~94% on CIFAR-10 in about 24 epochs on a GPU."""
    return FastResNet(input_shape[0], num_classes, 64, dropout)


@register_model("fast_resnet_small")
def fast_resnet_small(input_shape: Sequence[int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    """ResNet-9 at a quarter of the width (16-32-64-128, 0.4 M weights), pooled right after the
    prep layer (≈ 5 M multiply-adds per 32×32 image): real images on a CPU."""
    return FastResNet(input_shape[0], num_classes, 16, dropout, early_pool=True)


class AirbenchNet(nn.Module):
    """The shape of Keller Jordan's airbench (fast CIFAR-10 training), scaled for a CPU: a 3×3 stem, then three
    groups of conv → max-pool 2 → BN → GELU, conv → BN → GELU, then a global max-pool head and a linear layer
    whose logits are scaled down (1/9, as airbench: small early logits train more stably).

    ``widths`` (stem, group 1, group 2, group 3); (16, 32, 64, 128) is ~0.3 M weights, ~2,000 CIFAR-10
    training images/s on 2 CPU cores. ``dropout`` sits inside each group, between its two convolutions.
    """

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (16, 32, 64, 128), dropout: float = 0.0):
        super().__init__()

        def group(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2, ceil_mode=True),
                nn.BatchNorm2d(c_out), nn.GELU(), nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU(),
            )

        stem, *groups = widths
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem), nn.GELU())
        self.groups = nn.Sequential(*(group(c_in, c_out) for c_in, c_out in zip(widths, groups)))
        self.head = nn.Linear(widths[-1], num_classes, bias=False)
        self.mix_points = ("groups.0", "groups.1")  # after the first two groups, as a ResNet's first two stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = F.adaptive_max_pool2d(self.groups(self.stem(x)), 1).flatten(1)
        return self.head(features) / 9


@register_model("airbench_cpu")
def airbench_cpu(input_shape: Sequence[int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    """airbench-shaped, widths 16-32-64-128: real images on a CPU (the cifar10-cpu preset)."""
    return AirbenchNet(input_shape[0], num_classes, (16, 32, 64, 128), dropout)


TORCHVISION_PREFIX = "torchvision:"


def torchvision_model(name: str) -> Callable[..., nn.Module]:
    """A builder for torchvision's classification model ``name`` (random weights, our class count)."""
    valid = torchvision.models.list_models(module=torchvision.models)  # classification models only
    if name not in valid:
        raise SuiteError(f"unknown torchvision model {name!r}; choose a classification model such as resnet18, resnet101")

    def build(input_shape: Sequence[int], num_classes: int, dropout: float = 0.0) -> nn.Module:
        if dropout > 0:
            raise SuiteError(f"torchvision:{name} has no dropout setting here; use preact_resnet18 for dropout runs")
        body = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
        stages = tuple(stage for stage in ("layer1", "layer2") if hasattr(body, stage))  # ResNets' first stages
        # Grey images are repeated to the three channels these models expect.
        if input_shape[0] != 3:
            body, stages = nn.Sequential(RepeatChannels(3), body), tuple(f"1.{stage}" for stage in stages)
        body.mix_points = stages
        return body

    return build


class RepeatChannels(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, self.channels, -1, -1)


def model_builder(arch: str) -> Callable[..., nn.Module]:
    """The builder that ``arch`` names: a registered model or ``torchvision:NAME``."""
    if arch.startswith(TORCHVISION_PREFIX):
        return torchvision_model(arch[len(TORCHVISION_PREFIX):])
    return lookup(MODELS, arch, "model")


def build_model(
    arch: str,
    input_shape: Sequence[int],
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    dropout: float = 0.0,
) -> nn.Module:
    """A registered architecture behind input normalization: pixels in [0, 1] in, logits out."""
    body = model_builder(arch)(input_shape, num_classes, dropout=dropout)
    return nn.Sequential(Normalize(mean, std), body)


def mix_points(model: nn.Module) -> tuple[str, ...]:
    """Where hidden states of a ``build_model`` model may be mixed: "input" (the pixels), then the body's
    declared modules, shallow to deep, as names inside ``model``. A body without ``mix_points`` offers the input only."""
    body = model[1] if isinstance(model, nn.Sequential) and isinstance(model[0], Normalize) else model
    prefix = "1." if body is not model else ""
    return ("input",) + tuple(prefix + name for name in getattr(body, "mix_points", ()))
