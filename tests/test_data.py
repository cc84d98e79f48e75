"""Every data set's loading code, on files written here in each one's own on-disk format."""

import hashlib
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST

from robustness import data as datasets
from robustness.config import DataConfig, build_config
from robustness.data import DATASETS, channel_stats, load
from robustness.errors import SuiteError

RNG = np.random.default_rng(0)
N_TRAIN, N_TEST = 40, 20  # per data set: 4 per class in training, 2 in test (10 classes)


def labelled(n: int, classes: int = 10) -> np.ndarray:
    return np.arange(n) % classes  # balanced, so stratified subsets are exact


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def dump(obj, path) -> None:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle)


def write_cifar(root, dataset_class, monkeypatch) -> dict:
    """A tiny copy of cifar-10-batches-py / cifar-100-python; torchvision's md5 list is pointed
    at these files, so its own integrity check runs on them."""
    folder = root / dataset_class.base_folder
    folder.mkdir(parents=True)
    label_key = "labels" if dataset_class is CIFAR10 else "fine_labels"
    n_classes = 10 if dataset_class is CIFAR10 else 100
    n_train, n_test = (N_TRAIN, N_TEST) if n_classes == 10 else (200, 100)
    images = RNG.integers(0, 256, (n_train + n_test, 3 * 32 * 32), dtype=np.uint8)  # rows: R plane, G, B
    labels = labelled(n_train + n_test, n_classes)
    files = [name for name, _ in dataset_class.train_list]
    parts = np.array_split(np.arange(n_train), len(files))
    for name, idx in zip(files, parts):
        dump({"data": images[idx], label_key: labels[idx].tolist()}, folder / name)
    test_name = dataset_class.test_list[0][0]
    dump({"data": images[n_train:], label_key: labels[n_train:].tolist()}, folder / test_name)
    names = [f"class{i}" for i in range(n_classes)]
    dump({dataset_class.meta["key"]: names}, folder / dataset_class.meta["filename"])
    monkeypatch.setattr(dataset_class, "train_list", [[name, md5(folder / name)] for name in files])
    monkeypatch.setattr(dataset_class, "test_list", [[test_name, md5(folder / test_name)]])
    meta = dict(dataset_class.meta, md5=md5(folder / dataset_class.meta["filename"]))
    monkeypatch.setattr(dataset_class, "meta", meta)
    expected = torch.from_numpy(images.reshape(-1, 3, 32, 32))
    return {"train": expected[:n_train], "test": expected[n_train:], "labels": labels, "n_train": n_train,
            "classes": names}


def write_idx(path, array: np.ndarray) -> None:
    """The big-endian idx format of MNIST: magic (0, 0, type 0x08 = ubyte, ndim), sizes, bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root, dataset_class, monkeypatch) -> dict:
    folder = root / dataset_class.__name__ / "raw"
    folder.mkdir(parents=True)
    images = RNG.integers(0, 256, (N_TRAIN + N_TEST, 28, 28), dtype=np.uint8)
    labels = labelled(N_TRAIN + N_TEST)
    write_idx(folder / "train-images-idx3-ubyte", images[:N_TRAIN])
    write_idx(folder / "train-labels-idx1-ubyte", labels[:N_TRAIN])
    write_idx(folder / "t10k-images-idx3-ubyte", images[N_TRAIN:])
    write_idx(folder / "t10k-labels-idx1-ubyte", labels[N_TRAIN:])
    expected = torch.from_numpy(images[:, None])
    return {"train": expected[:N_TRAIN], "test": expected[N_TRAIN:], "labels": labels, "n_train": N_TRAIN,
            "classes": list(dataset_class.classes)}


def write_image_folder(root, mode: str = "RGB", size=(12, 10)) -> dict:
    """train/<class>/*.png and test/<class>/*.png (PNG: lossless, so pixels round-trip exactly)."""
    channels = 3 if mode == "RGB" else 1
    images = RNG.integers(0, 256, (N_TRAIN + N_TEST, size[1], size[0], channels), dtype=np.uint8)
    labels = labelled(N_TRAIN + N_TEST, 3)
    classes = ["cat", "dog", "emu"]
    order = {"train": [], "test": []}
    for i, (image, label) in enumerate(zip(images, labels)):
        part = "train" if i < N_TRAIN else "test"
        path = root / part / classes[label] / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.squeeze(-1) if channels == 1 else image, mode).save(path)
        order[part].append(i)
    # ImageFolder orders by class, then file name: the expected order of the loaded split.
    expected = {}
    for part in ("train", "test"):
        idx = sorted(order[part], key=lambda i: (labels[i], i))
        expected[part] = torch.from_numpy(images[idx]).permute(0, 3, 1, 2)
        expected[f"{part}_labels"] = torch.as_tensor(labels[idx])
    return {**expected, "classes": classes}


def write_files(name: str, root, monkeypatch) -> tuple[DataConfig, dict]:
    """Files for data set ``name`` under ``root``; the config that loads them and what they hold."""
    writers = {
        "cifar10": lambda: write_cifar(root, CIFAR10, monkeypatch),
        "cifar100": lambda: write_cifar(root, CIFAR100, monkeypatch),
        "mnist": lambda: write_mnist(root, MNIST, monkeypatch),
        "fashion-mnist": lambda: write_mnist(root, FashionMNIST, monkeypatch),
    }
    if name == "imagefolder":
        return DataConfig(name=f"imagefolder:{root}"), write_image_folder(root)
    expected = writers[name]()
    n = expected["n_train"]
    expected["train_labels"], expected["test_labels"] = torch.as_tensor(expected["labels"][:n]), torch.as_tensor(
        expected["labels"][n:]
    )
    return DataConfig(name=name, root=str(root), download=False), expected


FILE_DATA_SETS = [name for name in DATASETS if name != "digits"]  # digits ships with scikit-learn


def test_every_registered_data_set_is_covered_here():
    assert set(FILE_DATA_SETS) == {"cifar10", "cifar100", "mnist", "fashion-mnist", "imagefolder"}


@pytest.mark.parametrize("name", FILE_DATA_SETS)
def test_loads_exactly_the_pixels_and_labels_on_disk(name, tmp_path, monkeypatch):
    config, expected = write_files(name, tmp_path, monkeypatch)
    split = load(config)
    assert split.train_images.dtype == torch.uint8  # a quarter of float32's memory, also on the device
    assert torch.equal(split.train_images, expected["train"]) and torch.equal(split.test_images, expected["test"])
    assert torch.equal(split.train_y, expected["train_labels"]) and torch.equal(split.test_y, expected["test_labels"])
    assert list(split.classes) == list(expected["classes"])
    assert torch.equal(split.train_x, expected["train"].float() / 255)  # float pixels in [0, 1] on demand
    mean, std = channel_stats(split.train_x)  # float32 arithmetic; the uint8 path is exact
    assert split.mean == pytest.approx(mean, abs=2e-6) and split.std == pytest.approx(std, abs=2e-6)
    assert split.summary()["input_shape"] == list(expected["train"].shape[1:])


def test_cifar_files_that_fail_torchvisions_md5_check_are_reported(tmp_path, monkeypatch):
    config, _ = write_files("cifar10", tmp_path, monkeypatch)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"truncated")
    with pytest.raises(SuiteError, match="missing or corrupted in .*cifar-10-batches-py .*data.download is off"):
        load(config)


@pytest.mark.parametrize("name, folder, files", [
    ("cifar10", "cifar-10-batches-py", "data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch, batches.meta"),
    ("mnist", "MNIST/raw", "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"),
    ("fashion-mnist", "FashionMNIST/raw", "train-images-idx3-ubyte"),
])
def test_missing_files_and_no_network_give_one_line_saying_what_goes_where(name, folder, files, tmp_path, monkeypatch):
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("Name or service not known")

    monkeypatch.setattr("torchvision.datasets.utils._get_redirect_url", offline)  # its first network call
    with pytest.raises(SuiteError) as err:
        load(DataConfig(name=name, root=str(tmp_path), download=True))
    message = str(err.value)
    assert "\n" not in message
    assert "the download failed" in message and "Name or service not known" in message
    assert f"{tmp_path / folder}" in message and files in message and "--data-root" in message


def test_image_folder_is_decoded_once_then_read_from_its_cache(tmp_path, monkeypatch):
    config, _ = write_files("imagefolder", tmp_path, monkeypatch)
    first = load(config)
    assert (tmp_path / datasets.CACHE_NAME).is_file()

    def no_decoding(*args):
        raise AssertionError("decoded again despite a valid cache")

    monkeypatch.setattr(datasets, "decode_images", no_decoding)
    second = load(config)
    assert torch.equal(second.train_images, first.train_images) and torch.equal(second.test_y, first.test_y)
    # A changed image invalidates the cache.
    path = min((tmp_path / "train" / "cat").iterdir())
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(path)
    with pytest.raises(AssertionError, match="decoded again"):
        load(config)


def test_grey_image_folder_has_one_channel(tmp_path):
    expected = write_image_folder(tmp_path, mode="L")
    split = load(DataConfig(name=f"imagefolder:{tmp_path}"))
    assert split.input_shape == (1, 10, 12) and torch.equal(split.train_images, expected["train"])


@pytest.mark.parametrize("problem, message", [
    ("no test", "has no test/ subfolder"),
    ("mixed sizes", "mixes image sizes"),
    ("no path", "needs a path; write imagefolder:PATH"),
])
def test_bad_image_folders_give_one_line_errors(problem, message, tmp_path):
    write_image_folder(tmp_path)
    name = f"imagefolder:{tmp_path}"
    if problem == "no test":
        (tmp_path / "test").rename(tmp_path / "validation")
    if problem == "mixed sizes":
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "train" / "dog" / "big.png")
    if problem == "no path":
        name = "imagefolder"
    with pytest.raises(SuiteError, match=message) as err:
        load(DataConfig(name=name))
    assert "\n" not in str(err.value)


def test_subsets_are_stratified_seeded_and_change_with_the_seed(tmp_path, monkeypatch):
    _, expected = write_files("mnist", tmp_path, monkeypatch)
    small = load(DataConfig(name="mnist", root=str(tmp_path), download=False, train_subset=20, test_subset=10))
    assert (len(small.train_y), len(small.test_y)) == (20, 10)
    assert torch.bincount(small.train_y).tolist() == [2] * 10  # 2 of each class's 4
    again = load(DataConfig(name="mnist", root=str(tmp_path), download=False, train_subset=20, test_subset=10))
    assert torch.equal(again.train_images, small.train_images)
    other = load(DataConfig(name="mnist", root=str(tmp_path), download=False, train_subset=20, split_seed=1))
    assert not torch.equal(other.train_images, small.train_images)
    # The images kept are images of the full set, with their own labels.
    rows = {bytes(img.numpy()): int(label) for img, label in zip(expected["train"], expected["train_labels"])}
    assert all(rows[bytes(img.numpy())] == int(label) for img, label in zip(small.train_images, small.train_y))
    # Statistics come from the subset actually trained on.
    assert small.mean == pytest.approx(channel_stats(small.train_x)[0], abs=2e-6)
    with pytest.raises(SuiteError, match="cannot hold all 10 classes"):
        load(DataConfig(name="mnist", root=str(tmp_path), download=False, train_subset=5))


def test_configured_mean_and_std_replace_the_computed_ones(tmp_path, monkeypatch):
    write_files("mnist", tmp_path, monkeypatch)
    split = load(DataConfig(name="mnist", root=str(tmp_path), download=False, mean=(0.1307,), std=(0.3081,)))
    assert (split.mean, split.std) == ((0.1307,), (0.3081,))
    with pytest.raises(SuiteError, match="1 channels"):
        load(DataConfig(name="mnist", root=str(tmp_path), download=False, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2)))


@pytest.mark.parametrize("name, message", [
    ("imagenet", "unknown data set 'imagenet'"),
    ("cifar10:extra", "data set 'cifar10' takes no parameter"),
])
def test_data_set_names_are_checked_before_anything_runs(name, message):
    with pytest.raises(SuiteError, match=message):
        build_config("quick", None, {"data": {"name": name}})


def test_data_flags_reach_the_config():
    from robustness.cli import flags_to_overrides, parser

    args = parser().parse_args(["--dataset", "imagefolder:x", "--data-root", "/d", "--train-subset", "100",
                                "--test-subset", "50", "--compile"])
    config = build_config("quick", None, flags_to_overrides(args))
    assert (config.data.name, config.data.root, config.data.train_subset, config.data.test_subset) == (
        "imagefolder:x", "/d", 100, 50)
    assert config.train.compile is True
    assert build_config("quick", None, flags_to_overrides(parser().parse_args([]))).train.compile is False
