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
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from attacks.metrics import pack_bits
from attacks.transfer import transfer_matrix
from attacks.worst import headline_images
from noise import corrupt, spec_file
from robustness.config import AttackConfig, SuiteConfig, TrainConfig, override, to_dict
from robustness.errors import SuiteError, warn
from robustness.methods import parse_method, plugin_sources
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


def train_recipe(config: SuiteConfig, method: str, seed: int, noise_spec: str | None = None) -> dict:
    """The recipe of one clean model (``noise_spec`` None) or one label-noise run (e.g. "uniform:0.5").

    Whole config sections are hashed, not chosen fields, so a field someone adds
    to DataConfig or TrainConfig (augmentation, say) is part of the key at once.
    A noise model read from a file (matrix:, labels:), and a user's training method, are keyed by the
    files' contents too.
    """
    train = to_dict(config.train)
    noise = None
    if noise_spec is not None:
        train["epochs"] = config.noise.epochs
        noise = {"spec": noise_spec, "seed": seed, "file_sha256": _noise_file_hash(noise_spec),
                 "train_subset": config.noise.train_subset}
    parsed = parse_method(method)
    sources = plugin_sources(parsed)
    code = {"method_code": sources} if sources else {}  # a user's method: its file's hash
    return _plain({"kind": "train", "version": UNIT_VERSION, "data": to_dict(config.data), "train": train,
                   "method": parsed.spec, "seed": seed, "noise": noise, **code})


def _noise_file_hash(noise_spec: str) -> str | None:
    file = spec_file(noise_spec)  # "labels:h.pt:worse_label" reads h.pt
    return None if file is None else hashlib.sha256(file.read_bytes()).hexdigest()


def attack_recipe(config: SuiteConfig, attack: str, source: str, models: dict[str, dict]) -> dict:
    """The recipe of one attack crafted on ``source`` at every ε, evaluated on every model of ``models``
    (name -> identity: a trained model's train-unit key, a checkpoint's sha256). One unit covers every ε
    so that the attack's work shared across ε (FGSM's one gradient, I-FGSM's fused ε) stays shared."""
    settings = to_dict(config.attack)
    for elsewhere in ("attacks", "heatmap_eps", "worst_case_attacks", "worst_case_images"):  # the unit's own attack is below
        settings.pop(elsewhere)
    for speed_only in ("fuse_epsilons", "fuse_images", "chunk_images"):  # how the work is split, never the numbers
        settings.pop(speed_only)
    return _plain({"kind": "attack", "version": UNIT_VERSION, "data": to_dict(config.data), "attack": attack,
                   "settings": settings, "source": source, "models": models})


def headline_recipe(config: SuiteConfig, attack: str, source: str, models: dict[str, dict], eps: float) -> dict:
    """The recipe of one worst-case attack crafted on ``source`` at the headline ``eps`` only, evaluated on
    ``source`` alone (white box), on the stratified subset of ``attack.worst_case_images`` test images."""
    recipe = attack_recipe(config, attack, source, {source: models[source]})
    recipe["settings"]["eps"] = [eps]
    return recipe | {"headline": {"eps": eps, "images": config.attack.worst_case_images}}


def trained_identity(recipe: dict) -> dict:
    """What identifies a trained model inside an attack recipe: its train unit."""
    return {"unit": unit_key(recipe), "arch": recipe["train"]["arch"], "method": recipe["method"]}


def _plain(recipe: dict) -> dict:
    """Tuples become lists, as they come back from a saved unit, so a loaded recipe compares equal."""
    return json.loads(json.dumps(recipe))


# --- the units themselves: plain values in, plain values out -----------------------------


def train_unit(recipe: dict, split, device: torch.device, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train the model ``recipe`` describes; returns ``{"state_dict", "history", "seconds", "noise"}``.

    ``noise`` is the NoisyLabels summary of a label-noise run, None for a clean model.
    """
    train = override(TrainConfig(), recipe["train"], "train")
    labels = replaced = noisy = None
    if recipe["noise"] is not None:
        noisy = corrupt(split.train_y, recipe["noise"]["spec"], split.num_classes, recipe["noise"]["seed"])
        labels, replaced = noisy.labels, noisy.replaced

    def epoch_done(row: dict) -> None:
        if on_epoch:
            on_epoch(row)
        fault_point("train-epoch")

    trained = fit(train.arch, parse_method(recipe["method"]), split, recipe["seed"], train, device,
                  labels=labels, replaced=replaced, epochs=train.epochs, on_epoch=epoch_done)
    state = {name: tensor.detach().cpu().clone() for name, tensor in trained.model.state_dict().items()}
    return {"state_dict": state, "history": trained.history, "seconds": trained.seconds,
            "noise": None if noisy is None else noisy.summary()}


def model_from_state(recipe: dict, state: dict, split, device: torch.device) -> nn.Module:
    """The evaluation-mode model that ``state`` (the state_dict of the train unit ``recipe``) holds, in the
    memory format it trained in (channels_last attacks a CPU's convolutions 1.9× faster too)."""
    with torch.random.fork_rng(devices=[]):  # building draws initial weights; leave the global RNG alone
        model = build_model(recipe["train"]["arch"], split.input_shape, split.num_classes, split.mean, split.std,
                            **parse_method(recipe["method"]).model_options)
    model.load_state_dict(state)
    plan = device_plan(override(TrainConfig(), recipe["train"], "train"), device)
    return model.to(device, memory_format=plan.memory_format).eval()


def attack_unit(recipe: dict, models: dict[str, nn.Module], split, device: torch.device) -> dict:
    """One attack crafted on ``recipe["source"]`` at every ε and evaluated on every model of the recipe.

    ``models`` maps each model name of ``recipe["models"]`` to the model (on any device; moved to
    ``device`` here, so a Ray worker gets CPU copies and puts them on its GPU).
    Returns transfer_matrix's ``{"n", "clean", "cells"}`` for this source alone.
    """
    models = {name: models[name].to(device).eval() for name in recipe["models"]}  # the recipe's order is the cells' order
    config = override(AttackConfig(), recipe["settings"], "attack")
    config = replace(config, attacks=(recipe["attack"],), heatmap_eps=config.eps[0])
    x, y, index = split.test_x, split.test_y, None
    if "headline" in recipe:  # a worst-case attack: its image subset, recorded as bits over the test set
        config = replace(config, worst_case_images=recipe["headline"]["images"])
        index = headline_images(y, config)
        x, y = x[index], y[index]
    result = transfer_matrix(models, x, y, config, device, progress=False, sources=[recipe["source"]])
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

    def path(self, recipe: dict) -> Path:
        return self.dir / f"{recipe['kind']}-{unit_key(recipe)}{self.SUFFIX[recipe['kind']]}"

    def load(self, recipe: dict) -> dict | None:
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
            if payload["key"] != unit_key(recipe) or payload["recipe"] != recipe:
                raise ValueError("it belongs to another unit")
            if payload["digest"] != result_digest(payload["result"]):
                raise ValueError("its result does not match its digest: edited or damaged")
            return payload["result"]
        except Exception as err:  # any damage at all means: compute it again
            reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            warn(f"cached unit {path.name} is unreadable ({reason}); recomputing it")
            return None

    def save(self, recipe: dict, result: dict) -> None:
        if self.dir is None:
            return
        payload = {"key": unit_key(recipe), "recipe": recipe, "digest": result_digest(result), "result": result}
        if recipe["kind"] == "train":
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
