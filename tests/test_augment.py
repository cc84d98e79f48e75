"""The device augmentation (robustness/augment.py): random crops and flips as two gathers."""

import pytest
import torch

from robustness.augment import random_crop_flip

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
