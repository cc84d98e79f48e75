"""Units of work: each trained model and each attack × source pass, named by a hash of what determines it.

A unit is a pure function of plain values: its *recipe* (a JSON-ready dict holding
exactly the configuration it depends on, including its seed), the data split,
and, for attacks, the models it needs. It returns plain, picklable values (a
state_dict and history; counts). ``unit_key(recipe)`` is both the cache key in
``<run-dir>/units/`` and the name of the task that computes it (in this process,
or as a Ray task: robustness/executors.py), so a unit is computed once per run
directory, whatever was interrupted.

- ``train``: one model for one (data, architecture, training settings, method,
  seed, label noise). Saved as ``units/train-<key>.pt`` (torch.save of plain values).
- ``attack``: one attack crafted on one source model at every ε; the source's
  adversarial examples are evaluated on every model, so the recipe names all of
  them by their identities. Saved as ``units/attack-<key>.json``. Its cells keep
  which images each got wrong (packed bits), for the per-image worst case.
- a headline ``attack``: one of ``attack.worst_case_attacks`` crafted on one model at
  the headline ε only (chosen after the attacks above when not given), white box, on a
  stratified subset of the test images (``attack.worst_case_images``); its recipe holds
  that ε and the subset's size, so a different choice is a different unit.

Each saved unit carries a digest of its result: a unit edited by hand or damaged
on disk is recomputed with a warning, never trusted.
"""

from __future__ import annotations

import errno
import fcntl  # POSIX file locks: the suite runs on Linux and macOS
import hashlib
import io
import json
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from attacks.metrics import pack_bits
from attacks.transfer import transfer_matrix
from attacks.worst import headline_images
from noise import corrupt, spec_file
from robustness.config import AttackConfig, DataConfig, SuiteConfig, TrainConfig, override, to_dict
from robustness.errors import SuiteError, warn
from robustness.methods import Method, parse_method, plugin_sources
from robustness.models import build_model
from robustness.results import fault_point, write_atomic
from robustness.train import device_plan, fit

UNIT_VERSION = 3  # bump when a unit's code changes what it returns, so old caches are not reused (2: result digests; 3: per-image bits)
LOCK_NAME = ".lock"


def unit_key(recipe: dict) -> str:
    """A short, stable hash of a recipe (canonical JSON: sorted keys, no spaces)."""
    canonical = json.dumps(recipe, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def result_digest(result: Any) -> str:
    """sha256 of a unit's result: plain values as canonical JSON, tensors by dtype, shape and bytes."""
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            digest.update(f"tensor|{value.dtype}|{list(value.shape)}|".encode())
            digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            digest.update(b"{")
            for key in sorted(value):
                digest.update(json.dumps(str(key)).encode())
                feed(value[key])
            digest.update(b"}")
        elif isinstance(value, (list, tuple)):
            digest.update(b"[")
            for item in value:
                feed(item)
            digest.update(b"]")
        else:
            digest.update(json.dumps(value).encode() + b";")

    feed(result)
    return digest.hexdigest()


# --- recipes: exactly what determines each unit ---------------------------------------------


@dataclass(frozen=True)
class NoiseRecipe:
    """How a label-noise run's training labels are corrupted: ``spec`` (e.g. "uniform:0.5") drawn with ``seed``, on
    ``train_subset`` training images (0: all); ``file_sha256`` keys a noise model read from a file (matrix:, labels:)."""

    spec: str
    seed: int
    train_subset: int
    file_sha256: str | None

    @classmethod
    def of(cls, config: SuiteConfig, spec: str, seed: int) -> NoiseRecipe:
        return cls(spec, seed, config.noise.train_subset, _noise_file_hash(spec))

    def to_json(self) -> dict:
        return {"spec": self.spec, "seed": self.seed, "file_sha256": self.file_sha256, "train_subset": self.train_subset}


@dataclass(frozen=True, eq=False)
class TrainRecipe:
    """One clean model (``noise`` None) or one label-noise run: what determines its train unit.

    Whole config sections are keyed, not chosen fields, so a field someone adds to DataConfig or TrainConfig
    (augmentation, say) is part of the key at once. ``method`` is the parsed spec (parsed once, by the run's
    setup); a user's method is keyed by its file's contents too (``method_code``).
    """

    data: DataConfig
    train: TrainConfig  # a label-noise run's: with ``noise.epochs``
    method: Method
    seed: int
    noise: NoiseRecipe | None = None
    method_code: dict[str, str] = field(default_factory=dict)  # a user's method: "module:factory" -> its file's sha256

    kind = "train"

    @classmethod
    def of(cls, config: SuiteConfig, method: Method, seed: int, noise_spec: str | None = None) -> TrainRecipe:
        """The recipe of ``method`` at ``seed`` in ``config``: a clean model, or with ``noise_spec`` a label-noise run."""
        if noise_spec is None:
            return cls(config.data, config.train, method, seed, None, plugin_sources(method))
        return cls(config.data, replace(config.train, epochs=config.noise.epochs), method, seed,
                   NoiseRecipe.of(config, noise_spec, seed), plugin_sources(method))

    def to_json(self) -> dict:
        """The recipe as saved with its unit and hashed into its key (the keys of units/ written before recipes
        were typed: old run directories resume)."""
        code = {"method_code": self.method_code} if self.method_code else {}
        return _plain({"kind": "train", "version": UNIT_VERSION, "data": to_dict(self.data), "train": to_dict(self.train),
                       "method": self.method.spec, "seed": self.seed,
                       "noise": None if self.noise is None else self.noise.to_json(), **code})

    @classmethod
    def from_json(cls, recipe: dict) -> TrainRecipe:
        """A saved unit's recipe, typed again (its method spec parsed: the one parse of a loaded unit)."""
        noise = recipe["noise"]
        return cls(override(DataConfig(), recipe["data"], "data"), override(TrainConfig(), recipe["train"], "train"),
                   parse_method(recipe["method"]), recipe["seed"],
                   None if noise is None else NoiseRecipe(noise["spec"], noise["seed"], noise["train_subset"],
                                                          noise["file_sha256"]),
                   dict(recipe.get("method_code", {})))

    @property
    def key(self) -> str:
        return unit_key(self.to_json())

    def identity(self) -> dict:
        """What identifies this trained model inside an attack recipe: its train unit."""
        return {"unit": self.key, "arch": self.train.arch, "method": self.method.spec}


def _noise_file_hash(noise_spec: str) -> str | None:
    file = spec_file(noise_spec)  # "labels:h.pt:worse_label" reads h.pt
    return None if file is None else hashlib.sha256(file.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Headline:
    """A worst-case unit's choice: the headline ``eps`` it runs at and the size of its stratified image subset."""

    eps: float
    images: int


# [attack] fields that are not a unit's own: the attack list and the worst-case choice (the unit's own attack and
# Headline say them), and how the work is split (never the numbers).
NOT_KEYED = ("attacks", "heatmap_eps", "worst_case_attacks", "worst_case_images", "fuse_epsilons", "fuse_images",
             "chunk_images")


@dataclass(frozen=True)
class AttackRecipe:
    """One attack crafted on ``source`` at every ε of ``settings``, evaluated on every model of ``models`` (name ->
    identity: a trained model's ``TrainRecipe.identity()``, a checkpoint's sha256). One unit covers every ε so that
    the attack's work shared across ε (FGSM's one gradient, I-FGSM's fused ε) stays shared. With ``headline`` it
    is a worst-case unit: white box at one ε, on the stratified subset of ``headline.images`` test images."""

    data: DataConfig
    attack: str
    settings: AttackConfig  # the run's [attack] section; NOT_KEYED fields are left out of the key
    source: str
    models: dict[str, dict]
    headline: Headline | None = None

    kind = "attack"

    @classmethod
    def of(cls, config: SuiteConfig, attack: str, source: str, models: dict[str, dict]) -> AttackRecipe:
        return cls(config.data, attack, config.attack, source, models)

    def at(self, eps: float) -> AttackRecipe:
        """The same unit at ``eps`` alone, white box: on ``source`` only."""
        return replace(self, settings=replace(self.settings, eps=(eps,)), models={self.source: self.models[self.source]})

    def worst_case(self, eps: float) -> AttackRecipe:
        """The worst-case unit of this attack: white box at ``eps`` on ``attack.worst_case_images`` test images."""
        return replace(self.at(eps), headline=Headline(eps, self.settings.worst_case_images))

    def attack_config(self) -> AttackConfig:
        """The settings the unit runs with: its one attack, tabulated at its first ε."""
        config = replace(self.settings, attacks=(self.attack,), heatmap_eps=self.settings.eps[0])
        return config if self.headline is None else replace(config, worst_case_images=self.headline.images)

    def to_json(self) -> dict:
        settings = {name: value for name, value in to_dict(self.settings).items() if name not in NOT_KEYED}
        headline = {} if self.headline is None else {"headline": {"eps": self.headline.eps, "images": self.headline.images}}
        return _plain({"kind": "attack", "version": UNIT_VERSION, "data": to_dict(self.data), "attack": self.attack,
                       "settings": settings, "source": self.source, "models": self.models, **headline})

    @classmethod
    def from_json(cls, recipe: dict) -> AttackRecipe:
        headline = recipe.get("headline")
        return cls(override(DataConfig(), recipe["data"], "data"), recipe["attack"],
                   override(AttackConfig(), recipe["settings"], "attack"), recipe["source"], recipe["models"],
                   None if headline is None else Headline(headline["eps"], headline["images"]))

    @property
    def key(self) -> str:
        return unit_key(self.to_json())


Recipe = TrainRecipe | AttackRecipe


def recipe_from_json(recipe: dict) -> Recipe:
    """A recipe as saved in a unit file, typed again by its kind."""
    return {"train": TrainRecipe, "attack": AttackRecipe}[recipe["kind"]].from_json(recipe)


def _plain(recipe: dict) -> dict:
    """Tuples become lists, as they come back from a saved unit, so a loaded recipe compares equal."""
    return json.loads(json.dumps(recipe))


# --- the units themselves: plain values in, plain values out -----------------------------


def train_unit(recipe: TrainRecipe, split, device: torch.device, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train the model ``recipe`` describes; returns ``{"state_dict", "history", "seconds", "noise"}``.

    ``noise`` is the NoisyLabels summary of a label-noise run, None for a clean model.
    """
    labels = replaced = noisy = None
    if recipe.noise is not None:
        noisy = corrupt(split.train_y, recipe.noise.spec, split.num_classes, recipe.noise.seed)
        labels, replaced = noisy.labels, noisy.replaced

    def epoch_done(row: dict) -> None:
        if on_epoch:
            on_epoch(row)
        fault_point("train-epoch")

    train = recipe.train
    trained = fit(train.arch, recipe.method, split, recipe.seed, train, device,
                  labels=labels, replaced=replaced, epochs=train.epochs, on_epoch=epoch_done)
    state = {name: tensor.detach().cpu().clone() for name, tensor in trained.model.state_dict().items()}
    return {"state_dict": state, "history": trained.history, "seconds": trained.seconds,
            "noise": None if noisy is None else noisy.summary()}


def model_from_state(recipe: TrainRecipe, state: dict, split, device: torch.device) -> nn.Module:
    """The evaluation-mode model that ``state`` (the state_dict of the train unit ``recipe``) holds, in the
    memory format it trained in (channels_last attacks a CPU's convolutions 1.9× faster too)."""
    with torch.random.fork_rng(devices=[]):  # building draws initial weights; leave the global RNG alone
        model = build_model(recipe.train.arch, split.input_shape, split.num_classes, split.mean, split.std,
                            **recipe.method.model_options)
    model.load_state_dict(state)
    plan = device_plan(recipe.train, device)
    return model.to(device, memory_format=plan.memory_format).eval()


def attack_unit(recipe: AttackRecipe, models: dict[str, nn.Module], split, device: torch.device) -> dict:
    """One attack crafted on ``recipe.source`` at every ε and evaluated on every model of the recipe.

    ``models`` maps each model name of ``recipe.models`` to the model (on any device; moved to
    ``device`` here, so a Ray worker gets CPU copies and puts them on its GPU).
    Returns transfer_matrix's ``{"n", "clean", "cells"}`` for this source alone.
    """
    models = {name: models[name].to(device).eval() for name in recipe.models}  # the recipe's order is the cells' order
    config = recipe.attack_config()
    x, y, index = split.test_x, split.test_y, None
    if recipe.headline is not None:  # a worst-case attack: its image subset, recorded as bits over the test set
        index = headline_images(y, config)
        x, y = x[index], y[index]
    result = transfer_matrix(models, x, y, config, device, progress=False, sources=[recipe.source])
    if index is not None:
        mask = torch.zeros(len(split.test_y), dtype=torch.bool)
        mask[index] = True
        result["images"] = pack_bits(mask)
    fault_point("attack-cell")
    return result


# --- the cache in <run-dir>/units/ ----------------------------------------------------------


class UnitStore:
    """Finished units of one run directory. A missing, truncated, edited or foreign file is a miss, never a crash."""

    SUFFIX = {"train": ".pt", "attack": ".json"}

    def __init__(self, run_dir: Path | None):
        """``run_dir`` None keeps nothing: every unit is computed (for the Python API)."""
        self.dir = None if run_dir is None else Path(run_dir) / "units"
        self.computed: list[str] = []  # keys computed by this process, in order
        self.reused: list[str] = []

    def path(self, recipe: Recipe) -> Path:
        return self.dir / f"{recipe.kind}-{recipe.key}{self.SUFFIX[recipe.kind]}"

    def load(self, recipe: Recipe) -> dict | None:
        """The saved result of ``recipe``, or None if it is absent or untrustworthy (then it is recomputed)."""
        if self.dir is None:
            return None
        path = self.path(recipe)
        if not path.exists():
            return None
        try:
            if path.suffix == ".pt":
                payload = torch.load(path, map_location="cpu", weights_only=True)
            else:
                payload = json.loads(path.read_text())
            if payload["key"] != recipe.key or payload["recipe"] != recipe.to_json():
                raise ValueError("it belongs to another unit")
            if payload["digest"] != result_digest(payload["result"]):
                raise ValueError("its result does not match its digest: edited or damaged")
            return payload["result"]
        except Exception as err:  # any damage at all means: compute it again
            reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            warn(f"cached unit {path.name} is unreadable ({reason}); recomputing it")
            return None

    def save(self, recipe: Recipe, result: dict) -> None:
        if self.dir is None:
            return
        payload = {"key": recipe.key, "recipe": recipe.to_json(), "digest": result_digest(result), "result": result}
        if recipe.kind == "train":
            buffer = io.BytesIO()
            torch.save(payload, buffer)
            data = buffer.getvalue()
        else:
            data = (json.dumps(payload, indent=1) + "\n").encode()
        write_atomic(self.path(recipe), data)


# --- one run at a time per directory --------------------------------------------------------


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``<run-dir>/.lock`` (an flock, released by the OS even on SIGKILL) for the duration.

    The lock file is opened with O_NOFOLLOW and must be a plain file with one link: a run directory
    unpacked from someone's tarball whose ``.lock`` is a symlink (or hard link) to another file would
    otherwise have that file truncated and overwritten with our pid.
    """
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise SuiteError(f"{path} is a symbolic link, not the suite's lock file; delete the link (not what it "
                             "points to) and rerun") from None
        raise SuiteError(f"run directory {run_dir} is not writable ({err.strerror}); pass a writable --out") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise SuiteError(f"{path} is not a plain file of its own (a hard link, a pipe or a device); delete it "
                             "and rerun")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise SuiteError(f"run directory {run_dir} is in use by another run (pid {holder}); wait for it to "
                             "finish, or pass another --run-id") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
