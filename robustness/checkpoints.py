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

Before any loader opens a zip archive, its central directory (read without decompressing anything) is held to
``ZIP_LIMITS`` (robustness/archives.py, shared with the label files): a member may declare at most 16 GiB, all members 64 GiB, a compressed member at most 100 times its
compressed size (torch stores members uncompressed; a zip bomb declares gigabytes in a few megabytes). These limits hold
with ``--trust-checkpoint`` too: trust is about running code, not about memory. A ``torch.export`` archive's JSON is then
checked against what ``torch.export.save`` writes (``check_export_text``): ``torch.export.load`` evaluates its symbolic
shapes with ``sympy.sympify`` (Python ``eval``), resolves operator names by attribute chains under ``torch``, and
``ExportedProgram.module()`` ``exec``s its ``guards_code``; any other text is refused unless trusted.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import io
import json
import pickle
import re
import types
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from torch import nn

from robustness.archives import broken_archive, check_zip_limits
from robustness.config import RUN_ID_PATTERN as NAME_PATTERN  # model names follow the run id's rule: one regex
from robustness.errors import SuiteError, one_line
from robustness.models import MODELS, Normalize, build_model
from robustness.plugins import import_factory, names_a_factory
from robustness.probe import probe_model
from robustness.records import CheckpointSource, ProbeRecord
from robustness.registry import lookup

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
    if len(parts) == 3 and names_a_factory(parts[0], parts[1]):
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


# --- torch.export archives: the text that torch.export.load evaluates or resolves ------------------------------------
# torch 2.14's deserializer (torch/_export/serde/serialize.py) turns archive text into Python objects in three ways:
#   1. every "expr_str" (symbolic sizes, strides and storage offsets in tensor_values and the weights/constants
#      configs; sym_int_values, sym_float_values, sym_bool_values) goes through sympy.sympify, i.e. Python eval;
#   2. every node "target" is resolved by getattr along its dotted name under torch, _operator or math (torch.os.system
#      resolves; torch's verifier then refuses a callable that is not an operator, but the suite does not rely on it),
#      and metadata "source_fn_stack" names the same way;
#   3. "guards_code" strings are pasted into a function that ExportedProgram.module() exec()s and the model calls on
#      every forward.
# Everything else is json, int(), registry lookups (pytree types, verifiers, "#ns:op" extension handlers) or pickles
# (data/*.pt, use_pickle members: _check_export_pickles). The checks below admit only what torch.export.save writes.

EXPR_TEXT_LIMIT = 10_000  # characters in one expression or guard: torch writes tens to hundreds
EXPR_DEPTH_LIMIT = 64  # nesting of calls and operators
# sympy constructors that srepr writes for the expressions torch's shape environment builds, and torch's own
# functions (the deserializer's sympy_functions): the only names an expression may call.
SYMPY_CALLS = frozenset({
    "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Max", "Min", "Abs",
    "Equality", "Unequality", "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan",
    "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "Piecewise", "ExprCondPair",
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv",
    "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv", "IsNonOverlappingAndDenseIndicator",
    "TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat", "Identity",
})
SYMPY_NAMES = frozenset({"oo", "int_oo", "zoo", "nan", "true", "false"})
SYMBOL_KEYWORDS = frozenset({"positive", "negative", "nonnegative", "nonpositive", "integer", "real", "finite", "zero", "nonzero"})
POWERS = frozenset({"Pow", "PowByNatural", "FloatPow"})
POWER_LIMIT = 64  # a literal exponent above this is a denial of service (sympy would compute 10**10**9), not a shape
SYMBOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
INFIX_SYMBOL = re.compile(r"[a-z]{1,4}\d+")  # s0, s77, u3, zuf0: the prefixes of torch's SymT, then a number
INFIX_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Div, ast.Pow, ast.USub, ast.UAdd,
                   ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
NUMBER_TEXT = re.compile(r"-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?|[-+]?inf|nan", re.IGNORECASE)
# Guards are Python over the inputs' sizes, e.g. "(L['x'].size()[0] % 2) == 0" (torch's shape_env python printer).
GUARD_CALLS = SYMPY_CALLS | {"floor", "ceiling", "TrueDiv", "cast_symbool_to_symint_guardless"}
GUARD_METHODS = frozenset({"size", "stride", "storage_offset", "numel", "dim"})
MATH_FUNCTIONS = frozenset({"floor", "ceil", "trunc", "sqrt"})
# Operator names as torch.export.save writes them (serialize_operator: f"{module}.{name}", torch._ops -> torch.ops):
# OpOverloads and higher-order operators under torch.ops, and the non-operator callables torch's verifier admits.
OPERATOR_NAME = re.compile(r"torch\.ops\.(?!_*__)[A-Za-z_]\w*\.(?!__)[A-Za-z_]\w*(\.(?!__)[A-Za-z_]\w*)?")
CALLABLE_TARGETS = frozenset(
    [f"_operator.{op}" for op in ("getitem", "add", "mul", "sub", "truediv", "ge", "le", "gt", "lt", "eq", "ne", "floordiv",
                                  "mod", "and_", "or_", "not_", "pow", "neg", "pos", "abs", "lshift", "rshift")]
    + [f"math.{fn}" for fn in ("ceil", "floor", "trunc")] + ["builtins.round"]
    + [f"torch.{fn}" for fn in ("sym_int", "sym_float", "sym_ite", "sym_max", "sym_min", "sym_not", "_sym_sqrt", "sym_sum")]
    + ["torch.autograd.grad_mode.set_grad_enabled", "torch._C._set_grad_enabled",
       "torch.amp.autocast_mode._enter_autocast", "torch.amp.autocast_mode._exit_autocast",
       "torch.fx.experimental.symbolic_shapes.cast_symbool_to_symint_guardless",
       "torch.export.custom_ops._call_custom_autograd_function_in_pre_dispatch"]
    + [f"torch._functorch.predispatch.{fn}" for fn in (
        "_add_batch_dim", "_remove_batch_dim", "_vmap_increment_nesting", "_vmap_decrement_nesting",
        "lazy_load_decompositions", "_make_dual", "_unpack_dual", "_jvp_increment_nesting", "_jvp_decrement_nesting",
        "_unwrap_for_grad", "_enter_dual_level", "_exit_dual_level")]
)
DOTTED_NAME = re.compile(r"(?!__)[A-Za-z_]\w*(\.(?!__)[A-Za-z_]\w*)*")
# Modules that are attributes of torch without being part of it (torch.os, torch.sys, ...): a name through them
# leaves torch, whatever follows.
FOREIGN_MODULES = frozenset(k for k, v in vars(torch).items() if isinstance(v, types.ModuleType) and not v.__name__.startswith("torch"))


class ExportTextError(ValueError):
    """A string in an export archive that torch.export.save would not have written."""


def _depth_ok(node: ast.AST, depth: int = 0) -> bool:
    return depth <= EXPR_DEPTH_LIMIT and all(_depth_ok(child, depth + 1) for child in ast.iter_child_nodes(node))


def _parsed(text: Any, what: str) -> ast.expr:
    """``text`` as a Python expression tree, parsed (never evaluated), bounded in length and depth."""
    if not isinstance(text, str):
        raise ExportTextError(f"{what} is a {type(text).__name__}, not text")
    if len(text) > EXPR_TEXT_LIMIT:
        raise ExportTextError(f"{what} is {len(text)} characters long (limit {EXPR_TEXT_LIMIT})")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ExportTextError(f"{what} is not an expression torch writes: {text[:80]!r}") from None
    if not _depth_ok(tree.body):
        raise ExportTextError(f"{what} nests deeper than {EXPR_DEPTH_LIMIT}: {text[:80]!r}")
    return tree.body


def _literal_int(node: ast.expr) -> int | None:
    """``3`` or ``-3`` written as a literal, else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal_int(node.operand)
        return None if value is None else -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def _check_int(node: ast.expr, text: str) -> None:
    value = _literal_int(node)
    if value is None or abs(value) >= 2**128:  # shape sizes and their bounds are 64-bit; 2**128 leaves room for products
        raise ExportTextError(f"an integer literal is out of range or not one: {text[:80]!r}")


def _is_power(node: ast.AST) -> bool:
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow)) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in POWERS)


def _check_power(base: ast.expr, exponent: ast.expr, text: str) -> None:
    """Exponents written as literals stay at most POWER_LIMIT, and a power's base holds no further power: sympy
    evaluates numbers eagerly, and a tower of small powers is already a number of gigabytes."""
    if isinstance(exponent, ast.Call) and isinstance(exponent.func, ast.Name) and exponent.func.id == "Integer" and exponent.args:
        exponent = exponent.args[0]
    value = _literal_int(exponent)
    if value is not None and abs(value) > POWER_LIMIT:
        raise ExportTextError(f"a power's exponent is above {POWER_LIMIT}: {text[:80]!r}")
    if any(_is_power(inner) for inner in ast.walk(base)):
        raise ExportTextError(f"a power's base holds another power: {text[:80]!r}")


def _check_sympy_call(node: ast.Call, text: str) -> None:
    """One srepr call: its name is known, its arguments are literals or further such calls."""
    if not isinstance(node.func, ast.Name) or node.func.id not in SYMPY_CALLS:
        raise ExportTextError(f"calls {ast.unparse(node.func)[:40]}, which torch does not write: {text[:80]!r}")
    fn = node.func.id
    if fn == "Symbol":
        if len(node.args) != 1 or not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                                       and SYMBOL_NAME.fullmatch(node.args[0].value)):
            raise ExportTextError(f"a Symbol's name is not an identifier: {text[:80]!r}")
        for keyword in node.keywords:
            if keyword.arg not in SYMBOL_KEYWORDS or not (isinstance(keyword.value, ast.Constant) and type(keyword.value.value) is bool):
                raise ExportTextError(f"a Symbol has an assumption torch does not write: {text[:80]!r}")
        return
    if node.keywords and not (fn == "Float" and [k.arg for k in node.keywords] == ["precision"]):
        raise ExportTextError(f"{fn} has keyword arguments torch does not write: {text[:80]!r}")
    if fn in ("Integer", "Rational"):
        for arg in node.args:
            _check_int(arg, text)
        return
    if fn == "Float":
        if len(node.args) != 1 or not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                                       and NUMBER_TEXT.fullmatch(node.args[0].value)):
            raise ExportTextError(f"a Float is not written as a number: {text[:80]!r}")
        for keyword in node.keywords:
            _check_int(keyword.value, text)
        return
    if fn in POWERS and len(node.args) == 2:
        _check_power(node.args[0], node.args[1], text)
    for arg in node.args:
        _check_sympy(arg, text)


def _check_sympy(node: ast.expr, text: str) -> None:
    """srepr calls, and the infix form older torch versions wrote (``s0 + 2*s1``, ``Mod(s0, 3)``, ``s0 >= 2``)."""
    if isinstance(node, ast.Call):
        _check_sympy_call(node, text)
    elif isinstance(node, ast.Name):
        if node.id not in SYMPY_NAMES and not INFIX_SYMBOL.fullmatch(node.id):
            raise ExportTextError(f"names {node.id}, which torch does not write: {text[:80]!r}")
    elif isinstance(node, ast.Constant):
        if type(node.value) is not float:
            _check_int(node, text)
    elif isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare)):
        ops = [node.op] if isinstance(node, (ast.BinOp, ast.UnaryOp)) else node.ops
        if not all(isinstance(op, INFIX_OPERATORS) for op in ops):
            raise ExportTextError(f"uses an operator torch does not write: {text[:80]!r}")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            _check_power(node.left, node.right, text)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                _check_sympy(child, text)
    else:
        raise ExportTextError(f"is not a sympy expression as torch writes it (srepr): {text[:80]!r}")


def check_sym_expr(text: Any) -> None:
    """A symbolic size as ``torch.export.save`` writes it (sympy's srepr), e.g.
    ``Add(FloorDiv(Symbol('s77', positive=True, integer=True), Integer(2)), Integer(1))``; else ExportTextError.

    Only calls of SYMPY_CALLS with literal or nested-call arguments pass: no attribute, subscript, lambda, operator,
    tuple or other name can reach sympify's eval."""
    _check_sympy(_parsed(text, "a symbolic expression"), text)


GUARD_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Div, ast.Pow, ast.BitAnd, ast.BitOr,
                   ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _check_input_path(node: ast.expr, text: str) -> None:
    """``L['x']``, ``L['x'][0]``, ``L['kw']['k']``: an input, by the names and indices of its path."""
    while isinstance(node, ast.Subscript):
        if not (isinstance(node.slice, ast.Constant) and type(node.slice.value) in (str, int)):
            raise ExportTextError(f"a guard indexes an input by something other than a name or number: {text[:80]!r}")
        node = node.value
    if not (isinstance(node, ast.Name) and node.id == "L"):
        raise ExportTextError(f"a guard reads something other than the inputs L[...]: {text[:80]!r}")


def _check_guard(node: ast.expr, text: str) -> None:
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float, bool):
            raise ExportTextError(f"a guard holds a {type(node.value).__name__} literal: {text[:80]!r}")
        return
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in GUARD_METHODS:
        if node.keywords or any(_literal_int(a) is None for a in node.args):  # L['x'].size() or .size(0)
            raise ExportTextError(f"a guard calls {node.func.attr} with arguments torch does not write: {text[:80]!r}")
        _check_input_path(node.func.value, text)
        return
    if isinstance(node, ast.Call):
        func = node.func
        known = (isinstance(func, ast.Name) and func.id in GUARD_CALLS) or (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "math" and func.attr in MATH_FUNCTIONS)
        if not known or node.keywords:
            raise ExportTextError(f"a guard calls {ast.unparse(func)[:40]}, which torch does not write: {text[:80]!r}")
        for arg in node.args:
            _check_guard(arg, text)
        return
    if isinstance(node, ast.Subscript):  # L['x'].size()[0]
        if _literal_int(node.slice) is None or not (isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)):
            raise ExportTextError(f"a guard indexes something other than a size: {text[:80]!r}")
        _check_guard(node.value, text)
        return
    if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare)):
        ops = [node.op] if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.BoolOp)) else node.ops
        if not all(isinstance(op, GUARD_OPERATORS) for op in ops):
            raise ExportTextError(f"a guard uses an operator torch does not write: {text[:80]!r}")
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                _check_guard(child, text)
        return
    raise ExportTextError(f"a guard is not an expression over input sizes: {text[:80]!r}")


def check_guard(text: Any) -> None:
    """A shape guard as torch's Python printer writes it, e.g. ``(L['x'].size()[0] % 2) == 0``; else ExportTextError.

    ``ExportedProgram.module()`` exec()s these inside the model's forward: only arithmetic and comparisons over
    literals and the inputs' ``size()``/``stride()`` pass."""
    _check_guard(_parsed(text, "a guard"), text)


def check_operator_name(text: Any) -> None:
    """A node's target as torch.export.save writes it: ``torch.ops.aten.conv2d.default``, ``torch.ops.higher_order.cond``,
    or one of the few non-operator callables torch's verifier admits (``_operator.add``, ``torch.sym_max``, ...)."""
    if not isinstance(text, str) or not (OPERATOR_NAME.fullmatch(text) or text in CALLABLE_TARGETS):
        raise ExportTextError(f"names operator {str(text)[:80]!r}, which is not a torch operator")


def check_source_name(text: Any) -> None:
    """A ``source_fn_stack`` entry's module or function path (resolved by getattr, never called), e.g.
    ``torch.nn.modules.conv.Conv2d``: a dotted name under torch, _operator or math without dunders or foreign modules."""
    parts = text.split(".") if isinstance(text, str) else []
    if not (isinstance(text, str) and DOTTED_NAME.fullmatch(text) and parts[0] in ("torch", "_operator", "math")
            and not (parts[0] == "torch" and len(parts) > 1 and parts[1] in FOREIGN_MODULES)):
        raise ExportTextError(f"names {str(text)[:80]!r} as a source function, which is not one under torch")


def _check_source_stack(value: Any) -> None:
    """``"conv2d,torch.nn.modules.conv.Conv2d;relu,torch.relu"``: node name, then the function (serialize_metadata)."""
    if not isinstance(value, str):
        raise ExportTextError("source_fn_stack is not text")
    for entry in value.split(";"):
        _, _, target = entry.partition(",")
        if not OPERATOR_NAME.fullmatch(target):
            check_source_name(target)


def _check_json_text(node: Any, key: str | None = None) -> None:
    """Walk one parsed JSON document; check each string the deserializer evaluates or resolves, by its key."""
    if isinstance(node, dict):
        for k, v in node.items():
            _check_json_text(v, k)
    elif isinstance(node, list):
        for item in node:
            _check_json_text(item, key)
    elif key == "expr_str":
        check_sym_expr(node)
    elif key == "target":
        check_operator_name(node)
    elif key == "guards_code":
        check_guard(node)
    elif key == "source_fn_stack":
        _check_source_stack(node)


def check_export_text(name: str, path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse (unless trusted) an export archive whose JSON holds text torch.export.save does not write.

    Runs after ``check_zip_limits``, so each JSON member read here declared a bounded size."""
    for info in archive.infolist():
        if not info.filename.endswith(".json"):
            continue
        try:
            document = json.loads(archive.read(info))
            _check_json_text(document)
        except ExportTextError as err:
            raise SuiteError(f"model {name!r}: {path} holds text in {info.filename} that torch.export.save does not write "
                             f"and the loader would run as Python ({err}); re-export the model with torch.export.save, "
                             "or pass --trust-checkpoint only if you trust where the file came from") from None
        except (ValueError, RecursionError) as err:  # json's own errors, and nesting beyond Python's stack
            raise broken_archive(f"model {name!r}", path, f"member {info.filename} is not JSON: {one_line(err, 60)}") from None


RESAVE = {"export": "re-export the model as a plain program (torch.export.save, not aoti_compile_and_package)",
          "torchscript": "save the model again with torch.jit.save", "torch.save": "save model.state_dict() with torch.save"}


def _zip_in_name_only(path: Path) -> bool:
    """Starts with a zip signature ("PK") but has no readable central directory: cut short or damaged."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"PK" and not zipfile.is_zipfile(path)


def checked_format(name: str, path: Path, trust: bool) -> str:
    """``file_format``, after refusing an archive that declares more than a checkpoint can (always), and (unless
    trusted) a member that runs native code on loading or, in an export archive, text the deserializer would evaluate.

    This reads only the zip's directory, member heads and JSON members, before any torch loader opens the file:
    ``torch.export.load`` dlopens an AOTInductor library (running its constructors) before it fails on anything else."""
    if _zip_in_name_only(path):
        raise broken_archive(f"model {name!r}", path, "it starts like one but its directory cannot be read")
    if not zipfile.is_zipfile(path):
        return "torch.save"  # the legacy non-zip format, or a broken file that torch.load will name
    try:
        with zipfile.ZipFile(path) as archive:
            check_zip_limits(f"model {name!r}", path, archive)
            fmt = file_format(path)
            member = None if trust else _native_member(archive)
            if member:
                raise SuiteError(f"model {name!r}: {path} holds {member}, native code that would run as the file loads; "
                                 f"{RESAVE[fmt]}, or pass --trust-checkpoint only if you trust where the file came from")
            if fmt == "export" and not trust:
                check_export_text(name, path, archive)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as err:
        raise _corrupt(name, path, err) from None
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
    with zipfile.ZipFile(path) as archive:
        _check_export_members(name, path, archive)


def _check_export_members(name: str, path: Path, archive: zipfile.ZipFile) -> None:
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
    """An exported program, after ``checked_format`` (sizes, native code, evaluated text) and, unless trusted, a look
    at every pickle torch.export.load would fall back to."""
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
    fn = import_factory(f"model {name!r}", module_name, attr, returns="; name a function that returns the nn.Module")
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
