"""The noise-model registry and ``corrupt``, which applies one and measures what it did."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from robustness.errors import SuiteError
from robustness.registry import lookup, make_register

# name -> fn(labels: np.ndarray | None, param: str, num_classes: int, rng) -> (noisy labels, replaced mask).
# Called with labels=None, a model only checks its parameter (so a config is validated before any
# training) and returns None. "replaced" marks the examples the model picked for corruption.
NOISE_MODELS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {}
register_noise = make_register(NOISE_MODELS, "noise model")


@dataclass(frozen=True)
class NoisyLabels:
    spec: str  # e.g. "uniform:0.5"
    seed: int
    labels: torch.Tensor  # the labels to train on, int64
    replaced: torch.Tensor  # bool: this example's label was replaced (possibly by the true class)
    realized_rate: float  # share of labels that are actually wrong (label != true label)
    replaced_share: float  # share of labels that were replaced
    confusion: list[list[int]]  # confusion[true][noisy], counts

    def summary(self) -> dict:
        return {
            "spec": self.spec,
            "seed": self.seed,
            "realized_rate": self.realized_rate,
            "replaced_share": self.replaced_share,
            "confusion": self.confusion,
        }


def split_spec(spec: str) -> tuple[str, str]:
    """"uniform:0.5" -> ("uniform", "0.5"); "matrix:T.npy" -> ("matrix", "T.npy")."""
    name, _, param = str(spec).partition(":")
    return name.strip(), param.strip()


def check_spec(spec: str) -> None:
    """A one-line SuiteError for an unknown model or a parameter that cannot be right, before any training."""
    name, param = split_spec(spec)
    lookup(NOISE_MODELS, name, "noise model")(None, param, 0, None)


def file_and_key(param: str) -> tuple[str, str | None]:
    """A file-based spec's parameter as (path, key): "h.pt:worse_label" -> ("h.pt", "worse_label"), "y.npy" ->
    ("y.npy", None). A parameter naming an existing file is a path whole, colons and all."""
    if ":" not in param or Path(param).is_file():
        return param, None
    path, _, key = param.rpartition(":")
    return path, key


def spec_file(spec: str) -> Path | None:
    """The file a noise spec reads ("matrix:T.npy", "labels:h.pt:worse_label"), or None for a rate-based one."""
    name, param = split_spec(spec)
    if name == "matrix":
        return Path(param)
    if name == "labels":
        return Path(file_and_key(param)[0])
    return None


def nominal_rate(spec: str) -> float | None:
    """The spec's rate parameter ("uniform:0.5" -> 0.5), or None for file-based models."""
    try:
        return float(split_spec(spec)[1])
    except ValueError:
        return None


def corrupt(labels: torch.Tensor, spec: str, num_classes: int, seed: int) -> NoisyLabels:
    """Apply the noise model ``spec`` ("name:param") to a copy of ``labels``; test labels never pass here."""
    name, param = split_spec(spec)
    model = lookup(NOISE_MODELS, name, "noise model")
    true = labels.detach().cpu().numpy().astype(np.int64)
    rng = np.random.default_rng(seed)
    noisy, replaced = model(true.copy(), param, num_classes, rng)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (true, noisy), 1)
    return NoisyLabels(
        spec=spec,
        seed=seed,
        labels=torch.as_tensor(noisy, dtype=torch.int64),
        replaced=torch.as_tensor(replaced, dtype=torch.bool),
        realized_rate=float((noisy != true).mean()),
        replaced_share=float(replaced.mean()),
        confusion=confusion.tolist(),
    )


def parse_probability(param: str, name: str) -> float:
    """p in [0, 1] from the spec's parameter, or a one-line error."""
    try:
        p = float(param)
    except ValueError:
        raise SuiteError(f"noise {name}:{param} needs a probability, e.g. {name}:0.2") from None
    if not 0.0 <= p <= 1.0:
        raise SuiteError(f"noise {name}:{param} has p outside [0, 1]; write 0.2 for 20%")
    return p


def load_array(path: str, what: str, example: str) -> np.ndarray:
    """A numeric array from .npy, .pt (a tensor or array) or .csv/.txt (comma- or space-separated)."""
    file = Path(path)
    if not path:
        raise SuiteError(f"noise {what} needs a file, e.g. {example}")
    if not file.is_file():
        raise SuiteError(f"noise {what}:{path}: file not found; give a path relative to the working directory")
    suffix = file.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(file, allow_pickle=False)
        elif suffix == ".pt":
            array = torch.load(file, map_location="cpu", weights_only=True)
            array = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        elif suffix in (".csv", ".txt"):
            text = file.read_text()
            rows = [line.replace(",", " ").split() for line in text.splitlines() if line.strip()]
            if rows and not _is_number(rows[0][0]):
                rows = rows[1:]  # a header line
            array = np.array([[float(v) for v in row] for row in rows])
        else:
            raise SuiteError(f"noise {what}:{path}: unknown file type {suffix!r}; use .npy, .pt or .csv")
    except SuiteError:
        raise
    except Exception as err:  # numpy, torch and the csv parser raise many types; all mean "unreadable"
        raise SuiteError(f"noise {what}:{path} cannot be read ({type(err).__name__}); "
                         "write a plain numeric array as .npy, .pt or .csv") from None
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise SuiteError(f"noise {what}:{path} does not hold numbers; write a plain numeric array")
    return array


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
