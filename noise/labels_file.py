"""``labels:FILE`` and ``labels:FILE:KEY`` — the user's own noisy labels, e.g. CIFAR-10N's human annotations.

FILE is .npy, .pt (a tensor) or .csv (one label per line, an optional header
line), holding one integer class id per *training* example, in the order of
the training split (for the digits split: the data set's order restricted to
the training indices). "Replaced" marks the labels that differ from the true
ones; the seed plays no part.

``labels:FILE:KEY`` reads one array of a file holding several by name, CIFAR-N's layout
(Wei et al., "Learning with Noisy Labels Revisited: A Study Using Real-World Human
Annotations", ICLR 2022): ``CIFAR-10_human.pt`` is a dict of 50,000-label arrays
(``clean_label``, ``aggre_label``, ``worse_label``, ``random_label1``..``3``) in torchvision's
CIFAR-10 training order. FILE is a .pt dict (read with ``torch.load(weights_only=True)``,
numpy arrays allowed, nothing else unpickled) or a .npz (read without pickles). When it
also holds ``clean_label``, those must equal the training split's labels, example by
example: a file in another order (a JPEG copy of CIFAR-10 sorted differently, a subset)
would pair every image with some other image's annotation, so it is refused.

Examples: ``corrupt(y, "labels:cifar10n_worse.npy", num_classes=10, seed=0)``;
``corrupt(y, "labels:CIFAR-10_human.pt:worse_label", num_classes=10, seed=0)``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from noise.core import file_and_key, load_array, register_noise
from robustness.archives import check_zip_limits
from robustness.errors import SuiteError

CLEAN_KEY = "clean_label"  # CIFAR-N's name for the original labels, checked against the split
TABLE_SUFFIXES = (".pt", ".npz")  # files that may hold several named arrays


def numpy_globals() -> list:
    """What unpickling a plain numpy array needs, and nothing more: ndarray, its reconstructor and the
    numeric dtypes. Object arrays are refused after loading (they hold no class ids)."""
    reconstruct = np.zeros(1).__reduce__()[0]  # numpy.core or numpy._core, whichever this numpy has
    numeric = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
               np.float16, np.float32, np.float64]
    return [reconstruct, np.ndarray, np.dtype, *{type(np.dtype(t)) for t in numeric}]


def read_table(path: str) -> dict[str, np.ndarray] | None:
    """The named arrays of a .pt dict or a .npz file; None when the file holds a single array."""
    file = Path(path)
    if file.suffix.lower() not in TABLE_SUFFIXES or not file.is_file():
        return None
    if zipfile.is_zipfile(file):  # torch.save's format and .npz are zips: refuse a bomb before anything is unpacked
        with zipfile.ZipFile(file) as archive:
            check_zip_limits(f"noise labels:{path}", file, archive)
    try:
        if file.suffix.lower() == ".npz":
            with np.load(file, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        with torch.serialization.safe_globals(numpy_globals()):
            content = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # numpy and torch raise many types (UnpicklingError for anything unsafe)
        raise SuiteError(f"noise labels:{path} cannot be read safely ({type(err).__name__}); save a dict of "
                         "label arrays (tensors or numpy int arrays) with torch.save, or use np.savez") from None
    if not isinstance(content, dict):
        return None
    return {str(key): value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            for key, value in content.items()}


def pick(table: dict[str, np.ndarray], path: str, key: str | None) -> np.ndarray:
    """The array named ``key``, or a one-line error listing the keys there are."""
    keys = ", ".join(table)
    if key is None:
        raise SuiteError(f"noise labels:{path} holds several label arrays ({keys}); name one, "
                         f"e.g. labels:{path}:{next(iter(table), 'KEY')}")
    if key not in table:
        raise SuiteError(f"noise labels:{path} has no key {key!r}; its keys are: {keys}")
    return table[key]


def as_labels(array: np.ndarray, where: str) -> np.ndarray:
    """A flat int64 array of class ids, or a one-line error."""
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise SuiteError(f"noise labels:{where} does not hold numbers; write a plain numeric array")
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)  # a CSV column or a row vector
    if array.ndim != 1:
        raise SuiteError(f"noise labels:{where} has shape {array.shape}; write one label per training example")
    if not np.isfinite(array).all() or (array != np.round(array)).any() or (array < 0).any():
        raise SuiteError(f"noise labels:{where} holds values that are not class ids (integers ≥ 0)")
    return array.astype(np.int64)


def load_labels(param: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(noisy labels, the file's clean labels or None) from ``FILE`` or ``FILE:KEY``."""
    path, key = file_and_key(param)
    table = read_table(path)
    if table is None:
        if key is not None and not Path(path).is_file():
            raise SuiteError(f"noise labels:{param}: file {path} not found; give a path relative to the working directory")
        if key is not None:
            raise SuiteError(f"noise labels:{param}: {path} holds one label array, not named ones; write labels:{path}")
        return as_labels(load_array(path, "labels", "labels:noisy_labels.npy"), path), None
    noisy = as_labels(pick(table, path, key), param)
    clean = as_labels(table[CLEAN_KEY], f"{path}:{CLEAN_KEY}") if CLEAN_KEY in table and key != CLEAN_KEY else None
    return noisy, clean


def check_order(clean: np.ndarray, labels: np.ndarray, param: str) -> None:
    """The file's clean labels must be the split's, example by example (the same images in the same order)."""
    if len(clean) == len(labels) and (clean == labels).all():
        return
    differ = int((clean != labels).sum()) if len(clean) == len(labels) else None
    how = f"disagrees with the training split's labels at {differ:,} of {len(labels):,} examples" if differ is not None \
        else f"has {len(clean):,} labels but the training split has {len(labels):,}"
    raise SuiteError(f"noise labels:{param}: the file's {CLEAN_KEY} {how}, so its labels are not in the split's order; "
                     "train on torchvision's own training split in its order (data.name = \"cifar10\", "
                     "data.train_subset = 0, noise.train_subset = 0), or reorder the file's arrays to your split's")


@register_noise("labels")
def labels_file(labels: np.ndarray | None, param: str, num_classes: int, rng: np.random.Generator | None):
    noisy, clean = load_labels(param)
    if labels is None:
        return None
    if clean is not None:
        check_order(clean, labels, param)
    if len(noisy) != len(labels):
        raise SuiteError(f"noise labels:{param} has {len(noisy):,} labels but the training split has {len(labels):,}; "
                         "give one label per training example, in the split's order (a CIFAR-N file covers the whole "
                         "training set: data.train_subset = 0 and noise.train_subset = 0)")
    if noisy.max(initial=0) >= num_classes:
        raise SuiteError(f"noise labels:{param} has class id {noisy.max()} but the data set has only "
                         f"{num_classes} classes (ids 0..{num_classes - 1})")
    return noisy, noisy != labels
