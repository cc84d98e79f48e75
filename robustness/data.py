"""Data sets as tensors: pixels in [0, 1], NCHW, labels int64.

A data set is a registered function ``load(config: DataConfig) -> Split``.
Everything stays a tensor so training and attacks slice it directly (no
DataLoader where a tensor slice does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from robustness.config import DataConfig
from robustness.errors import SuiteError
from robustness.registry import lookup, make_register

DATASETS: dict[str, Callable[[DataConfig], "Split"]] = {}
register_dataset = make_register(DATASETS, "data set")


@dataclass(frozen=True)
class Split:
    """A fixed train/test split. Images are float32 in [0, 1], shape N×C×H×W."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, on the training images
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    def summary(self) -> dict:
        return {
            "name": self.name,
            "n_train": len(self.train_y),
            "n_test": len(self.test_y),
            "input_shape": list(self.input_shape),
            "classes": list(self.classes),
            "mean": list(self.mean),
            "std": list(self.std),
        }


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of N×C×H×W images."""
    mean = images.mean(dim=(0, 2, 3))
    std = images.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(round(v, 6) for v in mean.tolist()), tuple(round(v, 6) for v in std.tolist())


def make_split(name: str, images: np.ndarray, labels: np.ndarray, classes, config: DataConfig) -> Split:
    """Stratified, seeded split of in-memory images (N×C×H×W floats in [0, 1])."""
    from sklearn.model_selection import train_test_split

    check_pixels(images, name)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)),
        test_size=config.test_fraction,
        stratify=labels,
        random_state=config.split_seed,
    )
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.int64)
    train_x, test_x = x[np.sort(train_idx)], x[np.sort(test_idx)]
    mean, std = channel_stats(train_x)
    return Split(name, train_x, y[np.sort(train_idx)], test_x, y[np.sort(test_idx)], tuple(classes), mean, std)


def check_pixels(images, name: str) -> None:
    """Refuse images that are not finite values in [0, 1]."""
    images = torch.as_tensor(images)
    if not torch.isfinite(images).all():
        raise SuiteError(f"data set {name!r} contains NaN or infinite pixels; clean the images first")
    low, high = float(images.min()), float(images.max())
    if low < 0.0 or high > 1.0:
        raise SuiteError(
            f"data set {name!r} has pixels in [{low:g}, {high:g}], not [0, 1]; divide 8-bit images by 255"
        )


@register_dataset("digits")
def load_digits(config: DataConfig) -> Split:
    """scikit-learn's bundled handwritten digits: 1,797 images, 8×8, 16 grey levels, 10 classes."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]  # 0..16 grey levels -> [0, 1]
    classes = [str(c) for c in bunch.target_names]
    return make_split("digits", images, bunch.target, classes, config)


def load(config: DataConfig) -> Split:
    """Load the data set that ``config.name`` names."""
    return lookup(DATASETS, config.name, "data set")(config)
