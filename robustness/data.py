"""Data sets as tensors: pixels in [0, 1], NCHW, labels int64.

A data set is a registered function ``load(config: DataConfig) -> Split``.
Everything stays a tensor so training and attacks slice it directly (no
DataLoader where a tensor slice does).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable
from urllib.error import URLError

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits as load_sklearn_digits
from sklearn.model_selection import train_test_split
from torchvision import datasets

from robustness.config import DataConfig
from robustness.errors import SuiteError, one_line, warn
from robustness.registry import lookup, make_register
from robustness.sampling import stratified_subset

DATASETS: dict[str, Callable[[DataConfig], "Split"]] = {}
register_dataset = make_register(DATASETS, "data set")


@dataclass(frozen=True)
class Split:
    """A fixed train/test split, N×C×H×W. Images are stored as uint8 (pixel = value / 255, a
    quarter of the memory, so a whole training set fits on the device) or as float32 in [0, 1];
    ``train_x`` / ``test_x`` always give float32 pixels in [0, 1]."""

    name: str
    train_images: torch.Tensor
    train_y: torch.Tensor
    test_images: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, on the training images (or as configured)
    std: tuple[float, ...]
    skipped_images: int = 0  # unreadable images left out (an image folder with --skip-bad-images)

    @property
    def train_x(self) -> torch.Tensor:
        return as_pixels(self.train_images)

    @property
    def test_x(self) -> torch.Tensor:
        return as_pixels(self.test_images)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])

    def summary(self) -> dict:
        return {
            "name": self.name,
            "n_train": len(self.train_y),
            "n_test": len(self.test_y),
            "input_shape": list(self.input_shape),
            "classes": list(self.classes),
            "mean": list(self.mean),
            "std": list(self.std),
            "skipped_images": self.skipped_images,
        }


def as_pixels(images: torch.Tensor) -> torch.Tensor:
    """float32 pixels in [0, 1] from uint8 (÷ 255) or float images (unchanged)."""
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255)
    return images


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (unbiased) std of N×C×H×W pixels, as floats in [0, 1]."""
    if images.dtype == torch.uint8:
        return uint8_channel_stats(images)
    mean = images.mean(dim=(0, 2, 3))
    std = images.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(round(v, 6) for v in mean.tolist()), tuple(round(v, 6) for v in std.tolist())


def uint8_channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``channel_stats`` of uint8 images, exactly, from each channel's 256-bin histogram
    (no float copy of the whole set, and fast)."""
    counts = torch.stack([torch.bincount(images[:, c].reshape(-1), minlength=256) for c in range(images.shape[1])])
    values = torch.arange(256, dtype=torch.float64) / 255
    counts = counts.to(torch.float64)
    n = counts.sum(1)
    mean = (counts * values).sum(1) / n
    var = (counts * (values - mean[:, None]).square()).sum(1) / (n - 1).clamp_min(1)
    std = var.sqrt().clamp_min(1e-6)
    return tuple(round(v, 6) for v in mean.tolist()), tuple(round(v, 6) for v in std.tolist())


def make_split(name: str, images: np.ndarray, labels: np.ndarray, classes, config: DataConfig) -> Split:
    """Stratified, seeded split of in-memory images (N×C×H×W floats in [0, 1])."""
    check_pixels(images, name)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)),
        test_size=config.test_fraction,
        stratify=labels,
        random_state=config.split_seed,
    )
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.int64)
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return finish_split(name, (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx]), classes, config)


def finish_split(name: str, train: tuple, test: tuple, classes, config: DataConfig) -> Split:
    """Subsets (stratified, seeded), then per-channel statistics of the training images used."""
    (train_x, train_y), (test_x, test_y) = train, test
    train_y, test_y = torch.as_tensor(train_y, dtype=torch.int64), torch.as_tensor(test_y, dtype=torch.int64)
    if config.test_first:  # the first N in the data set's order, as RobustBench's benchmark takes them
        if config.test_first > len(test_y):
            raise SuiteError(f"the first {config.test_first:,} test images were asked for (data.test_first; the benchmark's "
                             f"--n-examples) but {name!r} has {len(test_y):,}; ask for at most {len(test_y):,}")
        test_x, test_y = test_x[: config.test_first], test_y[: config.test_first]
    check_two_classes(name, train_y, classes, "training")
    check_two_classes(name, test_y, classes, "test")
    keep = stratified_subset(train_y, config.train_subset, config.split_seed, f"{name} training")
    train_x, train_y = train_x[keep], train_y[keep]
    keep = stratified_subset(test_y, config.test_subset, config.split_seed, f"{name} test")
    test_x, test_y = test_x[keep], test_y[keep]
    if config.mean:
        if len(config.mean) != train_x.shape[1]:
            raise SuiteError(
                f"data.mean has {len(config.mean)} values but {name!r} has {train_x.shape[1]} channels; give one per channel"
            )
        mean, std = tuple(config.mean), tuple(config.std)
    else:
        mean, std = channel_stats(train_x)
    return Split(name, train_x.contiguous(), train_y, test_x.contiguous(), test_y, tuple(classes), mean, std)


def check_two_classes(name: str, labels: torch.Tensor, classes, what: str) -> None:
    """Refuse images of fewer than two classes: there is nothing to tell apart, and the between-points
    analysis would search forever for a test pair with different labels."""
    present = torch.unique(labels).tolist()
    if len(present) < 2:
        names = ", ".join(str(classes[k]) if 0 <= k < len(classes) else str(k) for k in present) or "none"
        raise SuiteError(
            f"data set {name!r} has {len(present)} class{'' if len(present) == 1 else 'es'} ({names}) in its {what} "
            "images; classification needs at least 2, so add images of another class "
            "(an image folder: one subfolder per class in train/ and test/)"
        )


def training_subset(split: Split, size: int, seed: int) -> Split:
    """``split`` with a stratified, seeded subset of ``size`` of its training images (all when size is 0);
    the test images and the normalization statistics stay as they are."""
    keep = stratified_subset(split.train_y, size, seed, f"{split.name} training")
    if len(keep) == len(split.train_y):
        return split
    return replace(split, train_images=split.train_images[keep].contiguous(), train_y=split.train_y[keep])


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
    bunch = load_sklearn_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]  # 0..16 grey levels -> [0, 1]
    classes = [str(c) for c in bunch.target_names]
    return make_split("digits", images, bunch.target, classes, config)


# --- torchvision's data sets -------------------------------------------------------------


def torchvision_split(name: str, dataset_class, config: DataConfig) -> Split:
    """Both splits of a torchvision data set under ``config.root``, as uint8 N×C×H×W tensors.

    torchvision checks the files (CIFAR: md5 sums) and downloads them when asked; when that
    fails, the error names the files and the folder they belong in.
    """
    try:
        train = dataset_class(config.root, train=True, download=config.download)
        test = dataset_class(config.root, train=False, download=False)  # the download above fetched both
    except (RuntimeError, OSError, URLError) as err:
        raise SuiteError(missing_files_message(name, dataset_class, config, err)) from None
    return finish_split(name, uint8_nchw(train), uint8_nchw(test), train.classes, config)


def uint8_nchw(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's in-memory arrays (CIFAR: N×H×W×C numpy, MNIST: N×H×W tensor) as N×C×H×W."""
    images = torch.as_tensor(np.asarray(dataset.data), dtype=torch.uint8)
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    return images.contiguous(), torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)


def missing_files_message(name: str, dataset_class, config: DataConfig, err: Exception) -> str:
    """One line: which files, where, from where, and why they are not there."""
    if hasattr(dataset_class, "base_folder"):  # CIFAR-10/100: pickled batches in one folder
        folder = Path(config.root) / dataset_class.base_folder
        files = [f for f, _ in dataset_class.train_list + dataset_class.test_list] + [dataset_class.meta["filename"]]
        source = dataset_class.url
    else:  # MNIST family: unpacked idx files in <root>/<ClassName>/raw
        folder = Path(config.root) / dataset_class.__name__ / "raw"
        files = [Path(f).stem for f, _ in dataset_class.resources]
        source = dataset_class.mirrors[0]
    why = " ".join(str(err).split())  # torchvision's messages span lines
    reason = f"the download failed ({why[:300]})" if config.download else "data.download is off"
    return (
        f"data set {name!r} is missing or corrupted in {folder} and {reason}; place {', '.join(files)} "
        f"(unpacked from {source}) in {folder}, or pass --data-root DIR where DIR holds them"
    )


@register_dataset("cifar10")
def load_cifar10(config: DataConfig) -> Split:
    """CIFAR-10 (torchvision): 50,000 + 10,000 images, 32×32 RGB, 10 classes; <root>/cifar-10-batches-py."""
    return torchvision_split("cifar10", datasets.CIFAR10, config)


@register_dataset("cifar100")
def load_cifar100(config: DataConfig) -> Split:
    """CIFAR-100 (torchvision): 50,000 + 10,000 images, 32×32 RGB, 100 fine classes; <root>/cifar-100-python."""
    return torchvision_split("cifar100", datasets.CIFAR100, config)


@register_dataset("mnist")
def load_mnist(config: DataConfig) -> Split:
    """MNIST (torchvision): 60,000 + 10,000 images, 28×28 grey, 10 digits; <root>/MNIST/raw."""
    return torchvision_split("mnist", datasets.MNIST, config)


@register_dataset("fashion-mnist")
def load_fashion_mnist(config: DataConfig) -> Split:
    """Fashion-MNIST (torchvision): 60,000 + 10,000 images, 28×28 grey, 10 clothing classes; <root>/FashionMNIST/raw."""
    return torchvision_split("fashion-mnist", datasets.FashionMNIST, config)


# --- image folders ------------------------------------------------------------------------

CACHE_NAME = "decoded-uint8.npz"  # written inside the image folder, beside train/ and test/
CACHE_VERSION = 2  # bump when the decoding changes, so old caches are decoded again (2: unreadable images listed)
PARTS = ("train", "test")
CACHE_KEYS = tuple(f"{part}{suffix}" for part in PARTS for suffix in ("", "_unreadable", "_reasons"))
# What Pillow raises for a corrupt or truncated file. It decodes lazily, so most come from convert(), not
# open(): UnidentifiedImageError (an OSError) at open; OSError ("image file is truncated", "Truncated File
# Read", "broken data stream ...") while decoding; SyntaxError ("broken PNG file") from its PNG reader when
# a later chunk is damaged. Nothing else is caught, so a bug still raises.
UNREADABLE = (OSError, SyntaxError, Image.DecompressionBombError)  # the last: more than 2×MAX_IMAGE_PIXELS


@register_dataset("imagefolder")
def load_image_folder(config: DataConfig) -> Split:
    """``imagefolder:PATH``: PATH/train/<class>/* and PATH/test/<class>/* (torchvision's ImageFolder).

    Size and channels come from the images (grey when every image is grey, else RGB). They
    are decoded once into uint8 arrays cached in PATH/decoded-uint8.npz, keyed by the
    files' names, sizes and times, so later runs skip decoding. An image that cannot be read
    stops the load, unless ``config.skip_bad_images`` leaves it out (counted in ``skipped_images``).
    """
    root = Path(config.name.partition(":")[2]).expanduser()
    for part in PARTS:
        if not (root / part).is_dir():
            raise SuiteError(f"image folder {root} has no {part}/ subfolder; it needs train/<class>/* and test/<class>/*")
    name = f"imagefolder:{root.name}"
    samples, classes = folder_samples(root)
    labels = {part: torch.tensor([label for _, label in samples[part]], dtype=torch.int64) for part in PARTS}
    for part, what in zip(PARTS, ("training", "test")):
        check_two_classes(name, labels[part], classes, what)  # before decoding images that cannot be used
    arrays = decoded_folder(root, samples)
    unreadable = unreadable_images(root, samples, arrays)
    if unreadable and not config.skip_bad_images:
        raise SuiteError(unreadable_message(root, unreadable))
    if unreadable:
        count = f"{len(unreadable)} unreadable image{'s' * (len(unreadable) > 1)}"
        warn(f"image folder {root}: skipped {count} (--skip-bad-images): {first_few([path for path, _ in unreadable])}")
    train, test = ((torch.from_numpy(arrays[part]), labels[part][readable(arrays, part, len(labels[part]))])
                   for part in PARTS)
    return replace(finish_split(name, train, test, classes, config), skipped_images=len(unreadable))


def folder_samples(root: Path) -> tuple[dict[str, list], list[str]]:
    """(path, class index) per image in train/ and test/, and the class names (sorted, as ImageFolder does)."""
    samples, classes = {}, None
    for part in PARTS:
        try:
            folder = datasets.ImageFolder(str(root / part), loader=lambda path: path)  # listing only, nothing decoded
        except (FileNotFoundError, OSError) as err:
            raise SuiteError(f"image folder {root / part} is not usable ({one_line(err)}); "
                             "it needs <class>/<image> files") from None
        if classes is not None and folder.classes != classes:
            raise SuiteError(f"image folder {root}: train/ and test/ have different class folders; make them match")
        samples[part], classes = folder.samples, folder.classes
    return samples, [printable(name) for name in classes]


def printable(name: str) -> str:
    """A file name as a message, results.json and the report can hold it: one that is not valid UTF-8 (its bytes
    reach Python as surrogates, which no UTF-8 text can encode) shows its odd bytes as \\xff escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def decoded_folder(root: Path, samples: dict[str, list]) -> dict[str, np.ndarray]:
    """Per part, the readable images (uint8 N×C×H×W) and the unreadable ones' indices in ``samples`` and
    reasons: from the cache when it matches the files, else decoded and cached. The cache lists the
    unreadable images whether or not they are skipped, so a run without --skip-bad-images still names them."""
    fingerprint = folder_fingerprint(root, samples)
    arrays = read_cache(root / CACHE_NAME, fingerprint)
    if arrays is None:
        arrays, transient = {}, False
        for part in PARTS:
            paths = [path for path, _ in samples[part]]
            arrays[part], failed = decode_images(paths, root)
            arrays[f"{part}_unreadable"] = np.array([k for k, _ in failed], dtype=np.int64)
            arrays[f"{part}_reasons"] = np.array([unreadable_reason(err, paths[k]) for k, err in failed], dtype=str)
            transient = transient or any(getattr(err, "errno", None) for _, err in failed)
        # A system error (permission denied, I/O) can go away without the file changing, which the
        # fingerprint would not notice; Pillow's errors about the contents have no errno.
        if not transient:
            write_cache(root / CACHE_NAME, fingerprint, arrays)
    return arrays


def unreadable_images(root: Path, samples: dict[str, list], arrays: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """(path relative to ``root``, reason) of every image that could not be read, train/ first."""
    return [(printable(os.path.relpath(samples[part][k][0], root)), reason)
            for part in PARTS
            for k, reason in zip(arrays[f"{part}_unreadable"].tolist(), arrays[f"{part}_reasons"].tolist())]


def unreadable_message(root: Path, unreadable: list[tuple[str, str]]) -> str:
    """One line: the first unreadable file and why, how many more, and the two ways out."""
    first, reason = unreadable[0]
    if len(unreadable) == 1:
        what, fix = f"{first} cannot be read ({reason})", "delete or replace it"
    else:
        others = first_few([path for path, _ in unreadable[1:]])
        what, fix = f"{len(unreadable)} images cannot be read: {first} ({reason}), {others}", "delete or replace them"
    return f"image folder {root}: {what}; {fix}, or rerun with --skip-bad-images to leave unreadable images out"


def first_few(names: list[str], shown: int = 3) -> str:
    """The first ``shown`` names, then how many more (a message stays one readable line)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def readable(arrays: dict[str, np.ndarray], part: str, n: int) -> torch.Tensor:
    """Mask over a part's ``n`` samples: False where the image could not be read (it has no row in the arrays)."""
    mask = torch.ones(n, dtype=torch.bool)
    mask[torch.from_numpy(arrays[f"{part}_unreadable"])] = False
    return mask


def folder_fingerprint(root: Path, samples: dict[str, list]) -> str:
    """A hash of every image's relative path, size and modification time (and the cache format)."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    for part in PARTS:
        for path, label in samples[part]:
            stat = os.stat(path)
            # os.fsencode: a file name that is not valid UTF-8 reaches Python with surrogates, which .encode() refuses
            digest.update(os.fsencode(os.path.relpath(path, root)) + f"|{label}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def read_cache(path: Path, fingerprint: str) -> dict[str, np.ndarray] | None:
    """The cached arrays when the cache exists and matches the files, else None."""
    try:
        with np.load(path, allow_pickle=False) as cache:
            if str(cache["fingerprint"]) != fingerprint:
                return None
            return {key: cache[key] for key in CACHE_KEYS}
    except (OSError, KeyError, ValueError):
        return None


def write_cache(path: Path, fingerprint: str, arrays: dict[str, np.ndarray]) -> None:
    """Atomically (temporary file, rename); a read-only folder only costs the next run a decode."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, fingerprint=np.array(fingerprint), **arrays)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        warn(f"could not cache decoded images in {path} ({err.strerror}); the next run decodes again")


def decode_images(paths: list[str], root: Path) -> tuple[np.ndarray, list[tuple[int, Exception]]]:
    """Decode every image to uint8 N×C×H×W (threads: Pillow releases the GIL while decoding); the images
    that cannot be read are left out of the array and returned as (index in ``paths``, error)."""
    if not paths:
        raise SuiteError(f"image folder {root} has an empty train/ or test/; put images in its class folders")
    mode = folder_mode(paths)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(lambda path: decode_image(path, mode), paths, chunksize=256))
    failed = [(k, err) for k, (_, err) in enumerate(decoded) if err is not None]
    images = [image for image, err in decoded if err is None]
    if not images:
        first = os.path.relpath(paths[0], root)
        raise SuiteError(f"image folder {root}: none of the {len(paths)} images in {Path(first).parts[0]}/ can be read "
                         f"(the first, {first}: {unreadable_reason(failed[0][1], paths[0])}); replace them with readable images")
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        sizes = sorted(f"{s[1]}×{s[0]}" for s in shapes)[:2]
        raise SuiteError(f"image folder {root} mixes image sizes ({' and '.join(sizes)}, ...); resize them to one size first")
    stacked = np.stack(images)
    return (stacked[:, None] if mode == "L" else np.ascontiguousarray(stacked.transpose(0, 3, 1, 2))), failed


def folder_mode(paths: list[str]) -> str:
    """"L" (grey) or "RGB", from the first image that opens (opening reads only the header)."""
    for path in paths:
        try:
            with Image.open(path) as image:
                return "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB"
        except UNREADABLE:
            continue  # decode_image reports it
    return "RGB"  # none opens: decode_image reports every one


def decode_image(path: str, mode: str) -> tuple[np.ndarray | None, Exception | None]:
    """(uint8 H×W or H×W×3 pixels, None), or (None, the error) when the file cannot be read."""
    try:
        with Image.open(path) as image:
            pixels = image.convert(mode)  # the actual decoding: a truncated file passes open() and fails here
    except UNREADABLE as err:
        return None, err
    return np.asarray(pixels, dtype=np.uint8), None


def unreadable_reason(err: Exception, path: str) -> str:
    """The system's or Pillow's reason, short and on one line, without the path (the message names it)."""
    reason = getattr(err, "strerror", None) or str(err).replace(repr(path), "").strip() or type(err).__name__
    return " ".join(reason.split())[:200]


# --- lookup -------------------------------------------------------------------------------

WITH_ARGUMENT = {"imagefolder": "imagefolder:PATH"}  # data sets named with a parameter after ":"


def dataset_loader(name: str) -> Callable[[DataConfig], Split]:
    """The loader that ``name`` (e.g. "cifar10", "imagefolder:data/cifar10-jpeg") selects."""
    base, colon, argument = name.partition(":")
    loader = lookup(DATASETS, base.strip(), "data set")
    if base in WITH_ARGUMENT and not argument:
        raise SuiteError(f"data set {base!r} needs a path; write {WITH_ARGUMENT[base]}")
    if colon and base not in WITH_ARGUMENT:
        raise SuiteError(f"data set {base!r} takes no parameter; write {base}")
    return loader


def load(config: DataConfig) -> Split:
    """Load the data set that ``config.name`` names."""
    return dataset_loader(config.name)(config)
