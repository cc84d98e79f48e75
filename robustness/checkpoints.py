"""Custom models from checkpoints: ``--model NAME=SPEC``, the TOML key ``models``, ``robustness.evaluate``.

A SPEC is a location followed by optional ``,key=value`` options::

    mine=exported.pt2                         a torch.export program (saved with a dynamic batch dimension)
    mine=scripted.pt                          a TorchScript file (torch.jit.save)
    mine=digits_cnn:state.pt                  a state_dict for an architecture of robustness.models.MODELS
    mine=my_pkg.nets:make_net:state.pt        a state_dict for the module that my_pkg.nets.make_net() returns
    mine=digits_cnn:state.pt,norm=data,family=erm

Options: ``norm=none`` (the model takes pixels in [0, 1] and normalizes inside
itself: the default for exported, scripted and factory models), ``norm=data``
(the data set's per-channel mean/std go in front: the default for registry
architectures), ``mean=0.49/0.48/0.45,std=0.25/0.24/0.26`` (explicit, one value
per channel); ``family=NAME`` groups the model in the report (default
``custom``). The suite's own ``reports/<run>/models/<id>.pt`` load back with
``NAME=<arch>:<path>``: they hold their Normalize buffers, which are used as saved.

Files are read with ``torch.load(weights_only=True)``; a pickle of arbitrary
objects (e.g. ``torch.save(model)``) loads only with ``trust=True``
(``--trust-checkpoint``), because unpickling runs code from the file. For the
same reason an archive member that runs native code on loading (a shared
library, an AOTInductor package) is refused unless trusted, before any torch
loader opens the file. Training checkpoints are looked through: a model or
state_dict under ``net``/``model``/``module``/``state_dict``/``model_state_dict``
and DataParallel's ``.module`` (recorded as ``unwrapped``, e.g. ``"net.module"``).
Every failure is a one-line ``SuiteError`` naming the model and the fix.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import io
import json
import pickle
import re
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from torch import nn

from robustness.errors import SuiteError
from robustness.models import MODELS, Normalize, build_model
from robustness.probe import one_line, probe_model
from robustness.records import CheckpointSource, ProbeRecord
from robustness.registry import lookup

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
MODULE_PATTERN = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")
# Where training scripts keep the model or its weights: facebookresearch/mixup-cifar10 saves {"net": DataParallel(model), ...}.
WRAPPER_KEYS = ("net", "model", "module", "state_dict", "model_state_dict")
PARALLEL = (nn.DataParallel, nn.parallel.DistributedDataParallel)
# Archive members that run native code when a loader opens them: torch.export.load dlopens an AOTInductor package's
# .so, or compiles its .cpp with a compiler command read from the archive; shared libraries by name or by magic bytes.
SHARED_LIBRARY = re.compile(r"\.(so|dll|dylib|pyd)(\.\d+)*$", re.IGNORECASE)
NATIVE_CODE = re.compile(r"\.(cpp|wrapper)$", re.IGNORECASE)
BINARY_MAGIC = (b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")  # ELF, Mach-O


@dataclass(frozen=True)
class ModelSpec:
    """One parsed ``NAME=SPEC``."""

    name: str
    path: str  # the checkpoint file
    arch: str | None = None  # registry architecture, for a state_dict
    factory: str | None = None  # "package.module:function", for a state_dict
    norm: str | None = None  # "none", "data", "explicit" or None (the format's default)
    mean: tuple[float, ...] | None = None  # with norm == "explicit"
    std: tuple[float, ...] | None = None
    family: str = "custom"
    text: str = ""  # as the user wrote it

    @property
    def kind(self) -> str:
        return "arch" if self.arch else "factory" if self.factory else "file"


def _channels(name: str, key: str, value: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in value.split("/"))
    except ValueError:
        raise SuiteError(f"model {name!r}: {key}={value} is not a list of numbers; write e.g. {key}=0.49/0.48/0.45") from None


def _parse_options(name: str, options: list[str]) -> dict[str, Any]:
    """``norm=...``, ``mean=...``, ``std=...``, ``family=...`` into ModelSpec fields."""
    found: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in ("norm", "mean", "std", "family") or not value:
            raise SuiteError(f"model {name!r}: unknown option {option!r}; options are norm=none|data, mean=A/B/C, std=A/B/C, family=NAME")
        found[key] = value
    out: dict[str, Any] = {}
    if "family" in found:
        out["family"] = found["family"]
    if ("mean" in found) != ("std" in found):
        raise SuiteError(f"model {name!r}: give mean= and std= together (one value per channel, e.g. mean=0.5,std=0.25)")
    if "mean" in found:
        if "norm" in found:
            raise SuiteError(f"model {name!r}: give either norm= or mean=/std=, not both")
        out.update(norm="explicit", mean=_channels(name, "mean", found["mean"]), std=_channels(name, "std", found["std"]))
    elif "norm" in found:
        if found["norm"] not in ("none", "data"):
            raise SuiteError(f"model {name!r}: norm={found['norm']} is unknown; write norm=none, norm=data, or mean=…,std=…")
        out["norm"] = found["norm"]
    return out


def parse_model_spec(text: str) -> ModelSpec:
    """``NAME=LOCATION[,key=value...]`` -> ModelSpec (syntax only; files are read by ``load_model``)."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not rest:
        raise SuiteError(f"model spec {text!r} has no NAME=; write --model NAME=PATH, e.g. --model mine=net.pt2")
    if not NAME_PATTERN.fullmatch(name):
        raise SuiteError(f"model name {name!r} may hold only letters, digits, '_', '.', '-'; rename it")
    location, *options = rest.split(",")
    fields = _parse_options(name, options)
    head, colon, tail = location.partition(":")
    if colon and head in MODELS:
        return ModelSpec(name, tail, arch=head, text=text, **fields)
    parts = location.split(":", 2)
    if len(parts) == 3 and MODULE_PATTERN.fullmatch(parts[0]) and parts[1].isidentifier():
        return ModelSpec(name, parts[2], factory=f"{parts[0]}:{parts[1]}", text=text, **fields)
    if colon and re.fullmatch(r"[a-z_][a-z0-9_]*", head) and not Path(location).exists():
        raise SuiteError(f"model {name!r}: {head!r} is not a registered architecture; choose one of: {', '.join(sorted(MODELS))}")
    return ModelSpec(name, location, text=text, **fields)


# --- reading files ------------------------------------------------------------------------


def _existing_file(name: str, path: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise SuiteError(f"model {name!r}: checkpoint {path} does not exist; check the path (relative paths start at the current directory)")
    return file


def file_format(path: Path) -> str:
    """"export", "torchscript" or "torch.save", from the archive's member names (extensions lie)."""
    if not zipfile.is_zipfile(path):
        return "torch.save"  # the legacy non-zip format, or a broken file that torch.load will name
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
        return "export"
    if any("/code/" in n or n.endswith("constants.pkl") for n in names):
        return "torchscript"
    return "torch.save"


def _corrupt(name: str, path: Path, err: Exception) -> SuiteError:
    return SuiteError(f"model {name!r}: {path} is truncated or not a PyTorch checkpoint ({one_line(err, 100)}); save or copy it again")


def _is_binary(head: bytes) -> bool:
    """ELF or Mach-O by magic bytes, or Windows PE (its "PE" header too: "MZ" alone is common in tensor data)."""
    if head.startswith(BINARY_MAGIC):
        return True
    offset = int.from_bytes(head[0x3C:0x40], "little") if head.startswith(b"MZ") else -1
    return offset >= 0 and head[offset:offset + 4] == b"PE\0\0"


def _native_member(archive: zipfile.ZipFile) -> str | None:
    """The first member that could run native code as the archive loads: names first, then magic bytes."""
    for info in archive.infolist():
        member = PurePosixPath(info.filename.replace("\\", "/"))
        if "aotinductor" in (part.lower() for part in member.parts[:-1]):
            return info.filename
        if SHARED_LIBRARY.search(member.name) or NATIVE_CODE.search(member.name):
            return info.filename
        if not info.is_dir():
            with archive.open(info) as handle:
                if _is_binary(handle.read(4096)):
                    return info.filename
    return None


RESAVE = {"export": "re-export the model as a plain program (torch.export.save, not aoti_compile_and_package)",
          "torchscript": "save the model again with torch.jit.save", "torch.save": "save model.state_dict() with torch.save"}


def checked_format(name: str, path: Path, trust: bool) -> str:
    """``file_format``, after refusing (unless trusted) a member that runs native code on loading.

    This reads only the zip's member list and heads, before any torch loader opens the file: ``torch.export.load``
    dlopens an AOTInductor library (running its constructors) before it fails on anything else."""
    fmt = file_format(path)
    if trust or not zipfile.is_zipfile(path):
        return fmt
    try:
        with zipfile.ZipFile(path) as archive:
            member = _native_member(archive)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as err:
        raise _corrupt(name, path, err) from None
    if member:
        raise SuiteError(f"model {name!r}: {path} holds {member}, native code that would run as the file loads; "
                         f"{RESAVE[fmt]}, or pass --trust-checkpoint only if you trust where the file came from")
    return fmt


def torch_load(name: str, path: Path, trust: bool) -> Any:
    """``torch.load(weights_only=True)``; arbitrary pickles only when ``trust``."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic != b"PK" and magic[:1] != b"\x80":  # neither a zip (torch.save) nor a pickle (legacy torch.save)
        raise _corrupt(name, path, ValueError("neither a zip archive nor a pickle"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's own "you are loading with weights_only=False" advice
            return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        if not trust and "Weights only load failed" in str(err):
            raise SuiteError(
                f"model {name!r}: {path} is a pickle of arbitrary Python objects (e.g. torch.save(model)), which "
                "torch.load(weights_only=True) refuses because unpickling can run code; save model.state_dict() "
                "instead, or pass --trust-checkpoint if you trust where the file came from"
            ) from None
        raise _corrupt(name, path, err) from None
    except (ImportError, AttributeError) as err:  # a trusted pickle names classes by module path, e.g. models.PreActResNet
        raise SuiteError(f"model {name!r}: {path} is a pickle of classes that cannot be imported here ({one_line(err, 100)}); "
                         "put the code that defined the model on PYTHONPATH (e.g. its training repository), "
                         "or save model.state_dict() and load it with package.module:factory:FILE") from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as err:
        raise _corrupt(name, path, err) from None


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _unwrap(obj: Any) -> tuple[Any, str | None]:
    """A training checkpoint's model or weights, and where they were: ``{"net": DataParallel(model), "acc": ...}``
    gives (model, "net.module"). A whole model under WRAPPER_KEYS wins over a state_dict; DataParallel gives ``.module``."""
    path = []
    if isinstance(obj, Mapping) and not _is_state_dict(obj):
        held = [k for k in WRAPPER_KEYS if isinstance(obj.get(k), nn.Module)] + [k for k in WRAPPER_KEYS if _is_state_dict(obj.get(k))]
        if held:
            obj, path = obj[held[0]], [held[0]]
    if isinstance(obj, PARALLEL):
        obj, path = obj.module, [*path, "module"]
    return obj, ".".join(path) or None


def _few(keys: list[str], limit: int = 3) -> str:
    return ", ".join(keys[:limit]) + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _describe(obj: Any) -> str:
    """What a file holds, for errors: the keys of a dict (a few), else the type."""
    if isinstance(obj, Mapping):
        return f"a dict with keys {_few([str(k) for k in obj], 5)}" if obj else "an empty dict"
    return f"a {type(obj).__name__}"


LOOKED_UNDER = f"looked under {', '.join(WRAPPER_KEYS)} too"


def read_state_dict(name: str, path: Path, trust: bool) -> tuple[dict[str, torch.Tensor], str | None]:
    """The weights in a state_dict file or training checkpoint, and where they were (DataParallel's "module." dropped)."""
    fmt = checked_format(name, path, trust)
    if fmt != "torch.save":
        raise SuiteError(f"model {name!r}: {path} is a {fmt} program, not a state_dict; give it without an architecture: {name}={path}")
    state, where = _unwrap(torch_load(name, path, trust))
    state = state.state_dict() if isinstance(state, nn.Module) else state
    if _is_state_dict(state) and all(str(k).startswith("module.") for k in state):
        state, where = {k[len("module."):]: v for k, v in state.items()}, f"{where}.module" if where else "module"
    if not _is_state_dict(state):
        raise SuiteError(f"model {name!r}: {path} holds {_describe(state)}, not a state_dict of tensors ({LOOKED_UNDER}); "
                         "save model.state_dict()")
    return dict(state), where


def fit_state_dict(name: str, model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``load_state_dict`` with a one-line account of missing keys, unexpected keys and shape clashes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {list(state[k].shape)} vs {list(v.shape)} expected" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    problems = ([f"missing keys {_few(missing)}"] if missing else []) + (
        [f"unexpected keys {_few(unexpected)}"] if unexpected else []) + ([f"shape mismatch {_few(shapes)}"] if shapes else [])
    if problems:
        raise SuiteError(f"model {name!r}: the state_dict does not fit {what}: {'; '.join(problems)}; "
                         "name the architecture it was trained with, on this data set")
    model.load_state_dict(state)


# --- building models ----------------------------------------------------------------------


class ExportedModel(nn.Module):
    """An exported program as a module. Its train/eval mode was fixed at export, and its
    GraphModule refuses ``train()``/``eval()``, so only this wrapper's flag changes."""

    def __init__(self, program: torch.export.ExportedProgram):
        super().__init__()
        self.program = program.module()

    def train(self, mode: bool = True) -> ExportedModel:
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program(x)


def _check_export_pickles(name: str, path: Path) -> None:
    """torch.export.load falls back to full unpickling for some members; refuse those unless trusted."""
    archive = zipfile.ZipFile(path)
    for member in archive.namelist():
        if member.endswith("_config.json") and "/data/" in member:
            payloads = json.loads(archive.read(member)).get("config", {}).values()
            if any(p.get("use_pickle") or not str(p.get("path_name", "")).startswith(("weight_", "tensor_")) for p in payloads):
                raise SuiteError(f"model {name!r}: {path} holds pickled objects that only load with --trust-checkpoint; "
                                 "pass it if you trust where the file came from")
        elif member.endswith(".pt"):
            try:
                torch.load(io.BytesIO(archive.read(member)), weights_only=True)
            except Exception:  # noqa: BLE001 - whatever weights_only refuses needs the flag
                raise SuiteError(f"model {name!r}: {path} holds pickled objects ({member}) that only load with "
                                 "--trust-checkpoint; pass it if you trust where the file came from") from None


def _check_export_input(name: str, program: torch.export.ExportedProgram, input_shape: tuple[int, ...]) -> None:
    """One input, N×C×H×W with a dynamic N and C×H×W equal to the data set's."""
    inputs = program.graph_signature.user_inputs
    if len(inputs) != 1:
        raise SuiteError(f"model {name!r}: the exported program takes {len(inputs)} inputs; export a model that takes one image batch")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == inputs[0])
    shape = tuple(node.meta["val"].shape)
    want = "×".join(map(str, input_shape))
    if len(shape) != 1 + len(input_shape) or any(isinstance(d, int) and d != w for d, w in zip(shape[1:], input_shape)):
        shown = "×".join(str(d) if isinstance(d, int) else "N" for d in shape)
        raise SuiteError(f"model {name!r}: exported for input {shown} but the data set's images are N×{want}; "
                         "export it for this data set's image shape")
    if isinstance(shape[0], int):
        raise SuiteError(f"model {name!r}: exported with a fixed batch size of {shape[0]}; export again with "
                         "dynamic_shapes=({0: torch.export.Dim('batch')},)")


def load_exported(name: str, path: Path, input_shape: tuple[int, ...], trust: bool) -> nn.Module:
    if not trust:
        _check_export_pickles(name, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.load(path)
    except Exception as err:  # noqa: BLE001 - torch.export raises many types for one broken archive
        raise _corrupt(name, path, err) from None
    _check_export_input(name, program, input_shape)
    return ExportedModel(program)


def load_scripted(name: str, path: Path) -> nn.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated since 2.14; it still loads
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # noqa: BLE001 - so does torch.jit
        raise _corrupt(name, path, err) from None


def call_factory(name: str, factory: str, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Import ``package.module:function`` and call it, passing ``input_shape``/``num_classes`` if it names them."""
    module_name, _, attr = factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SuiteError(f"model {name!r}: cannot import {module_name} ({err}); make it importable (pip install it or set PYTHONPATH)") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise SuiteError(f"model {name!r}: {module_name} has no function {attr!r}; name a function that returns the nn.Module")
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in (("input_shape", input_shape), ("num_classes", num_classes)) if k in params}
    try:
        model = fn(**kwargs)
    except Exception as err:  # noqa: BLE001 - the user's code: report it in one line, whatever it raised
        raise SuiteError(f"model {name!r}: {factory}({', '.join(kwargs)}) failed with {one_line(err)}") from None
    if not isinstance(model, nn.Module):
        raise SuiteError(f"model {name!r}: {factory}() returned a {type(model).__name__}, not an nn.Module")
    return model


def normalization(spec: ModelSpec, default: str, split) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The (mean, std) to put in front of the model, or None when it takes raw pixels."""
    norm = spec.norm or default
    if norm == "none":
        return None
    mean, std = (split.mean, split.std) if norm == "data" else (spec.mean, spec.std)
    channels = split.input_shape[0]
    if len(mean) != channels or len(std) != channels:
        raise SuiteError(f"model {spec.name!r}: mean/std have {len(mean)}/{len(std)} values but the images have {channels} channel(s); give one per channel")
    if min(std) <= 0:
        raise SuiteError(f"model {spec.name!r}: std must be positive")
    return tuple(mean), tuple(std)


def _from_arch(spec: ModelSpec, split, trust: bool) -> tuple[nn.Module, str, str | None]:
    """A registry architecture: a build_model state_dict keeps its saved Normalize; a bare body gets ``norm``.
    Returns the model, its normalization default and where the weights were in the file."""
    state, unwrapped = read_state_dict(spec.name, _existing_file(spec.name, spec.path), trust)
    if "0.mean" in state and "0.std" in state:
        if spec.norm:
            raise SuiteError(f"model {spec.name!r}: this state_dict carries its own normalization (0.mean, 0.std); drop the norm option")
        model = build_model(spec.arch, split.input_shape, split.num_classes, split.mean, split.std)
        fit_state_dict(spec.name, model, state, f"{spec.arch} for {split.name}")
        return model, "checkpoint", unwrapped
    body = lookup(MODELS, spec.arch, "model")(split.input_shape, split.num_classes)
    fit_state_dict(spec.name, body, state, f"{spec.arch} for {split.name}")
    return body, spec.norm or "data", unwrapped


def _from_factory(spec: ModelSpec, split, trust: bool) -> tuple[nn.Module, str | None]:
    """The module ``package.module:factory()`` returns, with the file's weights; and where they were in the file."""
    state, unwrapped = read_state_dict(spec.name, _existing_file(spec.name, spec.path), trust)
    model = call_factory(spec.name, spec.factory, split.input_shape, split.num_classes)
    fit_state_dict(spec.name, model, state, spec.factory)
    return model, unwrapped


def _from_file(spec: ModelSpec, split, trust: bool) -> tuple[nn.Module, str, str | None]:
    """A lone file: an exported program, a TorchScript file, or (trusted only) a pickled nn.Module, also inside a
    training checkpoint or DataParallel. Returns the model, the file's format and where the model was in the file."""
    path = _existing_file(spec.name, spec.path)
    fmt = checked_format(spec.name, path, trust)
    if fmt == "export":
        return load_exported(spec.name, path, split.input_shape, trust), fmt, None
    if fmt == "torchscript":
        return load_scripted(spec.name, path), fmt, None
    found, unwrapped = _unwrap(torch_load(spec.name, path, trust))
    if isinstance(found, nn.Module):
        return found, "pickle", unwrapped
    if _is_state_dict(found):
        raise SuiteError(f"model {spec.name!r}: {path} holds a state_dict, not a whole model; name its architecture: "
                         f"{spec.name}=ARCH:{spec.path} (ARCH one of {', '.join(sorted(MODELS))}) or {spec.name}=package.module:factory:{spec.path}")
    raise SuiteError(f"model {spec.name!r}: {path} holds {_describe(found)}, neither a model nor a state_dict ({LOOKED_UNDER}); "
                     "save the model with torch.export.save, or its state_dict with torch.save")


def build_from_spec(spec: ModelSpec, split, trust: bool) -> tuple[nn.Module, dict]:
    """The model a spec names, taking pixels in [0, 1], and a record of where it came from."""
    norm_default, fmt = "none", "state_dict"
    if spec.kind == "arch":
        model, norm_default, unwrapped = _from_arch(spec, split, trust)
    elif spec.kind == "factory":
        model, unwrapped = _from_factory(spec, split, trust)
    else:
        model, fmt, unwrapped = _from_file(spec, split, trust)
    if norm_default == "checkpoint":  # the saved Normalize buffers, as trained
        recorded = {"from": "checkpoint", "mean": model[0].mean.flatten().tolist(), "std": model[0].std.flatten().tolist()}
    else:
        norm = normalization(spec, norm_default, split)
        model = nn.Sequential(Normalize(*norm), model) if norm else model
        recorded = "none" if norm is None else {"from": spec.norm or norm_default, "mean": list(norm[0]), "std": list(norm[1])}
    path = Path(spec.path).expanduser().resolve()
    source = {"spec": spec.text, "format": fmt, "path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
              "arch": spec.arch, "factory": spec.factory, "trusted": trust, "normalization": recorded,
              "unwrapped": unwrapped}  # where in a training checkpoint the model was, e.g. "net.module"; None: the file itself
    return model, source


def load_model(spec: ModelSpec, split, device: torch.device, trust: bool = False) -> tuple[nn.Module, dict]:
    """Build, move to ``device`` and freeze (attacks need input gradients only) one spec's model."""
    model, source = build_from_spec(spec, split, trust)
    model = model.to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, source


@dataclass(frozen=True)
class LoadedModel:
    """A custom model, loaded and probed, with what results.json will say about it."""

    model: nn.Module  # takes pixels in [0, 1], returns logits; frozen, in eval mode, on the device
    family: str  # how the report groups it ("custom" unless the spec says family=...)
    source: CheckpointSource  # where it came from
    probe: ProbeRecord  # what the probe found


def load_custom_models(specs: tuple[str, ...], split, device: torch.device, trust: bool = False) -> dict[str, LoadedModel]:
    """Every ``NAME=SPEC``: loaded and probed, by name."""
    loaded = {}
    for text in specs:
        spec = parse_model_spec(text)
        model, source = load_model(spec, split, device, trust)
        loaded[spec.name] = LoadedModel(model, spec.family, source, probe_model(spec.name, model, split, device))
    return loaded
