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
(``--trust-checkpoint``), because unpickling runs code from the file.
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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
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
STATE_KEYS = ("state_dict", "model_state_dict", "model")  # where training scripts nest the weights


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
    names = zipfile.ZipFile(path).namelist()
    if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
        return "export"
    if any("/code/" in n or n.endswith("constants.pkl") for n in names):
        return "torchscript"
    return "torch.save"


def _corrupt(name: str, path: Path, err: Exception) -> SuiteError:
    return SuiteError(f"model {name!r}: {path} is truncated or not a PyTorch checkpoint ({one_line(err, 100)}); save or copy it again")


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
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as err:
        raise _corrupt(name, path, err) from None


def _unwrap_state(obj: Any) -> Any:
    """The weights of ``{"state_dict": ...}``-style training checkpoints; DataParallel's "module." prefix dropped."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        nested = [obj[k] for k in STATE_KEYS if isinstance(obj.get(k), Mapping)]
        obj = nested[0] if nested else obj
    if isinstance(obj, Mapping) and obj and all(str(k).startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def read_state_dict(name: str, path: Path, trust: bool) -> dict[str, torch.Tensor]:
    fmt = file_format(path)
    if fmt != "torch.save":
        raise SuiteError(f"model {name!r}: {path} is a {fmt} program, not a state_dict; give it without an architecture: {name}={path}")
    state = _unwrap_state(torch_load(name, path, trust))
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SuiteError(f"model {name!r}: {path} holds a {type(state).__name__}, not a state_dict of tensors; save model.state_dict()")
    return dict(state)


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")


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

    def train(self, mode: bool = True) -> "ExportedModel":
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
            except Exception:
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
    except Exception as err:  # torch.export raises many types for one broken archive
        raise _corrupt(name, path, err) from None
    _check_export_input(name, program, input_shape)
    return ExportedModel(program)


def load_scripted(name: str, path: Path) -> nn.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated since 2.14; it still loads
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as err:
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
    except Exception as err:  # the user's code: report it in one line, whatever it raised
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


def _from_arch(spec: ModelSpec, split, trust: bool) -> tuple[nn.Module, str]:
    """A registry architecture: a build_model state_dict keeps its saved Normalize; a bare body gets ``norm``."""
    state = read_state_dict(spec.name, _existing_file(spec.name, spec.path), trust)
    if "0.mean" in state and "0.std" in state:
        if spec.norm:
            raise SuiteError(f"model {spec.name!r}: this state_dict carries its own normalization (0.mean, 0.std); drop the norm option")
        model = build_model(spec.arch, split.input_shape, split.num_classes, split.mean, split.std)
        fit_state_dict(spec.name, model, state, f"{spec.arch} for {split.name}")
        return model, "checkpoint"
    body = lookup(MODELS, spec.arch, "model")(split.input_shape, split.num_classes)
    fit_state_dict(spec.name, body, state, f"{spec.arch} for {split.name}")
    return body, spec.norm or "data"


def _from_file(spec: ModelSpec, split, trust: bool) -> tuple[nn.Module, str]:
    """A lone file: an exported program, a TorchScript file, or (trusted only) a pickled nn.Module."""
    path = _existing_file(spec.name, spec.path)
    fmt = file_format(path)
    if fmt == "export":
        return load_exported(spec.name, path, split.input_shape, trust), fmt
    if fmt == "torchscript":
        return load_scripted(spec.name, path), fmt
    model = torch_load(spec.name, path, trust)
    if not isinstance(model, nn.Module):
        held = "state_dict" if isinstance(model, Mapping) else type(model).__name__
        raise SuiteError(f"model {spec.name!r}: {path} holds a {held}, not a whole model; name its architecture: "
                         f"{spec.name}=ARCH:{spec.path} (ARCH one of {', '.join(sorted(MODELS))}) or {spec.name}=package.module:factory:{spec.path}")
    return model, "pickle"


def build_from_spec(spec: ModelSpec, split, trust: bool) -> tuple[nn.Module, dict]:
    """The model a spec names, taking pixels in [0, 1], and a record of where it came from."""
    norm_default = "none"
    if spec.kind == "arch":
        model, norm_default = _from_arch(spec, split, trust)
        fmt = "state_dict"
    elif spec.kind == "factory":
        state = read_state_dict(spec.name, _existing_file(spec.name, spec.path), trust)
        model = call_factory(spec.name, spec.factory, split.input_shape, split.num_classes)
        fit_state_dict(spec.name, model, state, spec.factory)
        fmt = "state_dict"
    else:
        model, fmt = _from_file(spec, split, trust)
    if norm_default == "checkpoint":  # the saved Normalize buffers, as trained
        recorded = {"from": "checkpoint", "mean": model[0].mean.flatten().tolist(), "std": model[0].std.flatten().tolist()}
    else:
        norm = normalization(spec, norm_default, split)
        model = nn.Sequential(Normalize(*norm), model) if norm else model
        recorded = "none" if norm is None else {"from": spec.norm or norm_default, "mean": list(norm[0]), "std": list(norm[1])}
    path = Path(spec.path).expanduser().resolve()
    source = {"spec": spec.text, "format": fmt, "path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
              "arch": spec.arch, "factory": spec.factory, "trusted": trust, "normalization": recorded}
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
