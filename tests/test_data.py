"""Every data set's loading code, on files written here in each one's own on-disk format."""

import errno
import hashlib
import io
import json
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST

from robustness import data as datasets
from robustness.config import DataConfig
from robustness.data import DATASETS, channel_stats, load
from robustness.errors import SuiteError
from robustness.validation import load_config

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
    assert split.summary()["skipped_images"] == 0


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


def test_an_image_folder_that_cannot_be_listed_names_the_reason_in_one_line(tmp_path, monkeypatch):
    write_image_folder(tmp_path)
    for child in (tmp_path / "test").iterdir():  # test/ without class folders: torchvision's FileNotFoundError
        for image in child.iterdir():
            image.unlink()
        child.rmdir()
    with pytest.raises(SuiteError, match=r"image folder .*test is not usable \(FileNotFoundError: Couldn't find any class "
                                         r"folder in .*\); it needs <class>/<image> files"):
        load(DataConfig(name=f"imagefolder:{tmp_path}"))

    def unlistable(*args, **kwargs):
        raise OSError()  # an error without a message (its first line used to be an IndexError)

    monkeypatch.setattr(datasets.datasets, "ImageFolder", unlistable)
    with pytest.raises(SuiteError, match=r"train is not usable \(OSError\); it needs <class>/<image> files"):
        load(DataConfig(name=f"imagefolder:{tmp_path}"))


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
        load_config("quick", None, {"data": {"name": name}})


def test_data_flags_reach_the_config():
    from robustness.cli import flags_to_overrides, parser

    args = parser().parse_args(["--dataset", "imagefolder:x", "--data-root", "/d", "--train-subset", "100",
                                "--test-subset", "50", "--compile"])
    config = load_config("quick", None, flags_to_overrides(args))
    assert (config.data.name, config.data.root, config.data.train_subset, config.data.test_subset) == (
        "imagefolder:x", "/d", 100, 50)
    assert config.train.compile is True
    assert load_config("quick", None, flags_to_overrides(parser().parse_args([]))).train.compile is False


# --- fewer than two classes, unreadable images ---------------------------------------------


def test_a_one_class_image_folder_is_refused_before_anything_is_decoded(tmp_path):
    write_image_folder(tmp_path)
    for part in ("train", "test"):
        for other in ("dog", "emu"):
            for path in (tmp_path / part / other).iterdir():
                path.unlink()
            (tmp_path / part / other).rmdir()
    with pytest.raises(SuiteError) as err:
        load(DataConfig(name=f"imagefolder:{tmp_path}"))
    message = str(err.value)
    assert "\n" not in message
    assert f"'imagefolder:{tmp_path.name}' has 1 class (cat) in its training images" in message
    assert "needs at least 2" in message and "one subfolder per class" in message
    assert not (tmp_path / datasets.CACHE_NAME).exists()


def test_every_data_set_needs_two_classes_in_each_split():
    """finish_split, where every loader ends, refuses a split of one class (the between-points pairs need two)."""
    x = torch.zeros(12, 1, 4, 4, dtype=torch.uint8)
    two, one = torch.arange(12) % 2, torch.zeros(12, dtype=torch.int64)
    assert datasets.finish_split("ok", (x, two), (x, two), ["a", "b"], DataConfig()).num_classes == 2
    with pytest.raises(SuiteError, match="'mine' has 1 class \\(b\\) in its test images"):
        datasets.finish_split("mine", (x, two), (x, one + 1), ["a", "b"], DataConfig())


def encoded(fmt: str, size=(12, 10)) -> bytes:
    """A valid random RGB image file's bytes (PNG or JPEG)."""
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def broken_png_chunk() -> bytes:
    """A PNG whose second IDAT chunk has a damaged type: Pillow's PNG reader raises SyntaxError while decoding."""
    data = bytearray(encoded("PNG", size=(300, 300)))  # big enough for several IDAT chunks
    second = data.index(b"IDAT", data.index(b"IDAT") + 4)
    data[second:second + 4] = b"\0\1\2\3"
    return bytes(data)


# name -> (bytes, whether Image.open succeeds: Pillow decodes lazily, so these fail only at convert())
CORRUPT = {
    "garbage.jpg": (lambda: RNG.bytes(500), False),
    "empty.png": (lambda: b"", False),
    "truncated.png": (lambda: cut(encoded("PNG"), 0.5), True),
    "truncated.jpg": (lambda: cut(encoded("JPEG"), 0.9), True),
    "truncated-header.jpg": (lambda: cut(encoded("JPEG"), 0.5), False),  # "Truncated File Read" at open
    "broken-chunk.png": (broken_png_chunk, True),
}


def write_corrupt(path, name: str):
    path.write_bytes(CORRUPT[name][0]())
    return path


@pytest.mark.parametrize("name", CORRUPT)
def test_an_unreadable_image_gives_one_line_naming_it_and_the_fix(name, tmp_path):
    write_image_folder(tmp_path)
    bad = write_corrupt(tmp_path / "train" / "dog" / name, name)
    if CORRUPT[name][1]:
        Image.open(bad).close()  # the header reads: the error must come from the decoding
    with pytest.raises(SuiteError) as err:
        load(DataConfig(name=f"imagefolder:{tmp_path}"))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"image folder {tmp_path}: train/dog/{name} cannot be read (")
    assert message.endswith("; delete or replace it, or rerun with --skip-bad-images to leave unreadable images out")


def folder_with_two_bad_images(root) -> dict:
    expected = write_image_folder(root)
    write_corrupt(root / "train" / "cat" / "zz-garbage.jpg", "garbage.jpg")
    write_corrupt(root / "test" / "emu" / "truncated.png", "truncated.png")
    return expected


def test_skip_bad_images_leaves_them_out_warns_once_and_counts_them(tmp_path, capsys):
    expected = folder_with_two_bad_images(tmp_path)
    with pytest.raises(SuiteError, match=r": 2 images cannot be read: train/cat/zz-garbage.jpg \(cannot identify image file\), "
                                         r"test/emu/truncated.png; delete or replace them, or rerun with --skip-bad-images"):
        load(DataConfig(name=f"imagefolder:{tmp_path}"))
    capsys.readouterr()
    split = load(DataConfig(name=f"imagefolder:{tmp_path}", skip_bad_images=True))
    assert torch.equal(split.train_images, expected["train"]) and torch.equal(split.test_images, expected["test"])
    assert torch.equal(split.train_y, expected["train_labels"]) and torch.equal(split.test_y, expected["test_labels"])
    assert split.summary()["skipped_images"] == 2
    err = capsys.readouterr().err
    assert err == (f"warning: image folder {tmp_path}: skipped 2 unreadable images (--skip-bad-images): "
                   "train/cat/zz-garbage.jpg, test/emu/truncated.png\n")


def test_the_cache_of_a_skipping_run_still_names_the_bad_files_without_the_flag(tmp_path, monkeypatch, capsys):
    folder_with_two_bad_images(tmp_path)
    skipping = load(DataConfig(name=f"imagefolder:{tmp_path}", skip_bad_images=True))
    assert (tmp_path / datasets.CACHE_NAME).is_file()

    def no_decoding(*args):
        raise AssertionError("decoded again despite a valid cache")

    monkeypatch.setattr(datasets, "decode_images", no_decoding)
    with pytest.raises(SuiteError, match="2 images cannot be read: train/cat/zz-garbage.jpg"):
        load(DataConfig(name=f"imagefolder:{tmp_path}"))
    again = load(DataConfig(name=f"imagefolder:{tmp_path}", skip_bad_images=True))
    assert torch.equal(again.train_images, skipping.train_images) and again.skipped_images == 2
    assert capsys.readouterr().err.count("skipped 2 unreadable images") == 2  # every run says so


def test_a_permission_error_is_reported_but_not_cached(tmp_path, monkeypatch, capsys):
    """Unlike a corrupt file, a locked one is fixed (chmod) without a change the cache's fingerprint sees."""
    write_image_folder(tmp_path)
    locked, real_open = str(min((tmp_path / "test" / "emu").iterdir())), Image.open

    def open_unless_locked(path, *args, **kwargs):
        if str(path) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", locked)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", open_unless_locked)
    with pytest.raises(SuiteError, match=r": test/emu/\d+\.png cannot be read \(Permission denied\); delete or replace it"):
        load(DataConfig(name=f"imagefolder:{tmp_path}"))
    assert load(DataConfig(name=f"imagefolder:{tmp_path}", skip_bad_images=True)).skipped_images == 1
    assert not (tmp_path / datasets.CACHE_NAME).exists()
    monkeypatch.setattr(Image, "open", real_open)  # the permission is fixed
    assert load(DataConfig(name=f"imagefolder:{tmp_path}")).skipped_images == 0


def test_a_part_with_no_readable_image_is_refused_even_when_skipping(tmp_path):
    write_image_folder(tmp_path)
    for path in (tmp_path / "test").rglob("*.png"):
        write_corrupt(path, "garbage.jpg")
    with pytest.raises(SuiteError, match=r"none of the 20 images in test/ can be read \(the first, test/cat/"):
        load(DataConfig(name=f"imagefolder:{tmp_path}", skip_bad_images=True))


def test_only_unreadable_files_are_skipped_not_bugs(tmp_path, monkeypatch):
    write_image_folder(tmp_path)

    def buggy_convert(self, *args, **kwargs):
        raise ValueError("a bug, not a bad file")

    monkeypatch.setattr(Image.Image, "convert", buggy_convert)
    with pytest.raises(ValueError, match="a bug, not a bad file"):
        load(DataConfig(name=f"imagefolder:{tmp_path}", skip_bad_images=True))


@pytest.mark.parametrize("problem, message", [
    ("unreadable image", "train/dog/garbage.jpg cannot be read (cannot identify image file); delete or replace it"),
    ("one class", "has 1 class (cat) in its training images"),
])
def test_image_folder_problems_stop_run_all_with_one_line_and_no_output(problem, message, tmp_path, capsys):
    from robustness.cli import main

    folder = tmp_path / "images"
    write_image_folder(folder)
    if problem == "unreadable image":
        write_corrupt(folder / "train" / "dog" / "garbage.jpg", "garbage.jpg")
    else:
        for path in [*folder.glob("*/dog/*"), *folder.glob("*/emu/*")]:
            path.unlink()
        for path in [*folder.glob("*/dog"), *folder.glob("*/emu")]:
            path.rmdir()
    assert main(["--preset", "tiny", "--dataset", f"imagefolder:{folder}", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("run_all.py: error: ") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_run_all_with_skip_bad_images_records_the_count_in_results_json(tmp_path, capsys):
    from robustness.cli import main

    folder_with_two_bad_images(tmp_path / "images")
    assert main(["--preset", "tiny", "--dataset", f"imagefolder:{tmp_path / 'images'}", "--skip-bad-images", "--no-noise",
                 "--seeds", "0", "--out", str(tmp_path / "out"), "--run-id", "r", "--quiet"]) == 0
    results = json.loads((tmp_path / "out" / "r" / "results.json").read_text())
    assert results["data"]["skipped_images"] == 2 and results["config"]["data"]["skip_bad_images"] is True
    assert results["data"]["n_train"] == N_TRAIN and results["data"]["n_test"] == N_TEST  # the good images only
    assert "skipped 2 unreadable images" in capsys.readouterr().err


def test_skip_bad_images_flag_reaches_the_config_and_the_help():
    from robustness.cli import flags_to_overrides, parser

    assert "--skip-bad-images" in parser().format_help()
    on = load_config("quick", None, flags_to_overrides(parser().parse_args(["--skip-bad-images"])))
    off = load_config("quick", None, flags_to_overrides(parser().parse_args([])))
    assert (on.data.skip_bad_images, off.data.skip_bad_images) == (True, False)


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
