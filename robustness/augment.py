"""Data augmentation on the device, a whole batch at once: no per-image Python work.

``random_crop_flip`` is the paper's CIFAR-10 augmentation (torchvision's
``RandomCrop(size, padding=4)`` then ``RandomHorizontalFlip()``), done as two
gathers: the batch is zero-padded once, then each image's rows and columns are
read from its own random window, the columns in reverse for a flipped image.
No boolean masks, so nothing waits for the GPU.
It works on uint8 and float images alike, so the training set can stay uint8.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(images: torch.Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True,
                     padding_mode: str = "zeros") -> torch.Tensor:
    """A random ``H×W`` window of each zero-padded N×C×H×W image, mirrored left-right with probability ½.

    Args:
        images: N×C×H×W, any dtype, on any device.
        generator: a seeded CPU generator; the offsets are drawn on it, so the result
            depends only on its state, whatever the device.
        padding: pixels added on every side before cropping (default 4, the paper's).
        flip: mirror half of the images (default True).
        padding_mode: "zeros" (default, the paper's) or "reflect" (airbench's: no black borders).

    Returns a new tensor of the same shape, dtype and device.

    Example:
        >>> gen = torch.Generator().manual_seed(0)
        >>> random_crop_flip(torch.zeros(8, 3, 32, 32, dtype=torch.uint8), gen).shape
        torch.Size([8, 3, 32, 32])
    """
    n, c, h, w = images.shape
    device = images.device
    top = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator).to(device)
    left = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator).to(device)
    mirrored = (torch.rand(n, 1, generator=generator) < 0.5).to(device) if flip else torch.zeros(n, 1, dtype=torch.bool, device=device)
    rows = top + torch.arange(h, device=device)  # N×H indices into the padded image
    cols = left + torch.arange(w, device=device)  # N×W
    cols = torch.where(mirrored, cols.flip(1), cols)  # reading columns backwards is a horizontal flip
    mode = {"zeros": "constant", "reflect": "reflect"}[padding_mode]
    padded = F.pad(images, (padding, padding, padding, padding), mode=mode) if padding else images
    band = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * padding))  # the window's rows
    return band.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))  # and its columns
