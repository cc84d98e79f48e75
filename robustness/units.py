"""Units of work: each trained model and each attack × source pass, named by a hash of what determines it.

A unit is a pure function (robustness/stages/: ``train_unit``, ``attack_unit``) of plain values: its *recipe*
(a typed, frozen record holding exactly the configuration it depends on, including its seed: ``TrainRecipe``,
``AttackRecipe``), the data split, and, for attacks, the models it needs. It returns plain, picklable values (a
state_dict and history; counts). ``unit_key(recipe.to_json())`` (``recipe.key``) is both the cache key in
``<run-dir>/units/`` and the name of the task that computes it (in this process, or as a Ray task:
robustness/executors.py), so a unit is computed once per run directory, whatever was interrupted.

- ``train``: one model for one (data, architecture, training settings, method, seed, label noise). Saved as
  ``units/train-<key>.pt`` (torch.save of plain values).
- ``attack``: one attack crafted on one source model at every ε; the source's adversarial examples are
  evaluated on every model, so the recipe names all of them by their identities. Saved as
  ``units/attack-<key>.json``. Its cells keep which images each got wrong (packed bits), for the per-image
  worst case. A worst-case ``attack`` unit runs at the headline ε only, white box, on one batch of a stratified
  subset (robustness/stages/worst_case.py joins the batches).

This module holds what every unit shares: the key, the result digest, the store in ``<run-dir>/units/``, the
scheduler (``compute_units``) and the run directory's lock. Each saved unit carries a digest of its result: a
unit edited by hand or damaged on disk is recomputed with a warning, never trusted.
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
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Protocol

import torch

from robustness.config import DataConfig, to_dict
from robustness.errors import SuiteError, one_line, warn
from robustness.executors import Unit
from robustness.results import write_atomic

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


class Recipe(Protocol):
    """What the store and the scheduler need of a recipe (robustness/stages/: TrainRecipe, AttackRecipe)."""

    kind: ClassVar[str]  # "train" or "attack": the unit file's prefix

    @property
    def key(self) -> str: ...

    def to_json(self) -> dict: ...


# [data] fields added after run directories were written, with the value that leaves a unit as it was: a recipe
# leaves such a field out at that value, so the units of those runs keep their keys.
LATER_DATA_FIELDS = {"test_first": 0}


def recipe_data(data: DataConfig) -> dict:
    """The ``[data]`` section as a recipe holds it (``LATER_DATA_FIELDS`` left out at their old value)."""
    return {key: value for key, value in to_dict(data).items()
            if not (key in LATER_DATA_FIELDS and value == LATER_DATA_FIELDS[key])}


def plain(recipe: dict) -> dict:
    """Tuples become lists, as they come back from a saved unit, so a loaded recipe compares equal."""
    return json.loads(json.dumps(recipe))


# --- running units: cached ones are loaded, the rest go to the executor ---------------------


def compute_units(recipes: dict[str, Recipe], make_unit: Callable[[str, Recipe], Unit], store: UnitStore, executor,
                  desc: str, progress: bool, on_result: Callable[[dict], None] | None = None) -> dict[str, dict]:
    """name -> result for every recipe: reused from ``store`` or computed by ``executor`` and saved at once.
    ``on_result`` sees each result as it is there, reused ones first (a stage's own progress bars).

    Units that fail (under Ray: twice) are reported together after the others finished and were saved.
    """
    results = {name: store.load(recipe) for name, recipe in recipes.items()}
    for name, result in results.items():
        if result is not None:
            store.reused.append(recipes[name].key)
            if on_result:
                on_result(result)
    pending = {name: recipe for name, recipe in recipes.items() if results[name] is None}
    todo = [make_unit(name, recipe) for name, recipe in pending.items()]
    names = {unit.key: name for unit, name in zip(todo, pending)}

    def done(unit: Unit, result: dict) -> None:
        store.save(recipes[names[unit.key]], result)
        store.computed.append(unit.key)
        results[names[unit.key]] = result
        if on_result:
            on_result(result)

    failures = executor.run(todo, done, desc, progress)
    if failures:
        raise SuiteError(f"{len(failures)} unit(s) of {desc} failed ({'; '.join(failures.values())}); "
                         "the finished ones are saved: fix the cause and rerun the same command")
    return results


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
            warn(f"cached unit {path.name} is unreadable ({one_line(err, 120)}); recomputing it")
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
