"""Training methods: how a batch becomes a loss. One file per method; ``parse_method`` turns a spec into one.

    parse_method("mixup:8")                      # mixup with α = 8
    parse_method("mixup:1,partners=same_class")  # an option of the paper's ablation
    parse_method("mixup:8+dropout:0.5")          # two methods trained together
    parse_method("my_tricks:make_cutout:8")      # your own: a factory in an importable module
    parse_method("forward:estimate")             # a method whose parameter is a word (its ``text_param`` option)

A spec is ``name[:param][,key=value…]``; ``+`` joins methods (robustness/methods/base.py says how they
combine). A name that is not registered, followed by ``:factory``, is a module to import: ``factory(param,
**options)`` must return a ``Method``. Every mistake is a one-line SuiteError, raised before anything trains.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Callable

from robustness.errors import SuiteError, one_line
from robustness.methods.base import (Batch, Combined, HiddenMix, Method, MethodStreams, Trainee, forward,
                                     weighted_cross_entropy)
from robustness.methods.registry import METHODS, register_method
from robustness.plugins import import_factory, names_a_factory
from robustness.methods import (bootstrap, coteaching, cutmix, dropout, elr, erm,  # noqa: F401, I001
                                forward_correction, gaussian_noise, gce, label_smoothing, manifold_mixup, mixup, pgd_at,
                                sce)  # each registers one method

__all__ = ["Batch", "HiddenMix", "METHODS", "Method", "MethodStreams", "Trainee", "forward", "model_id", "parse_method",
           "plugin_sources", "register_method", "weighted_cross_entropy"]


def parse_method(spec: str) -> Method:
    """A spec -> its Method (a Combined one for ``a+b``); one-line errors for anything wrong."""
    parts = [parse_one(part) for part in str(spec).split("+")]
    return parts[0] if len(parts) == 1 else Combined(parts)


def parse_one(text: str) -> Method:
    """One ``name[:param][,key=value…]`` or ``package.module:factory[:param][,key=value…]``."""
    head, *option_texts = [part.strip() for part in text.strip().split(",")]
    options = dict(_option(text, option) for option in option_texts)
    name, _, rest = head.partition(":")
    if name in METHODS:
        cls = METHODS[name]
        if rest and cls.text_param and not _is_number(rest):  # forward:estimate, forward:T.npy
            return cls(None, **({cls.text_param: rest} | options))
        return cls(_number(text, rest) if rest else None, **options)
    factory, _, param = rest.partition(":")
    if rest and names_a_factory(name, factory):
        return plugin(name, factory, _number(text, param) if param else None, options, text)
    raise SuiteError(f"unknown training method {name!r}; choose one of: {', '.join(sorted(METHODS))}, "
                     "or your own as package.module:factory")


def _option(text: str, option: str) -> tuple[str, str]:
    key, sep, value = option.partition("=")
    if not sep or not key or not value:
        raise SuiteError(f"training method {text!r}: option {option!r} is not key=value, e.g. mixup:1,partners=same_class")
    return key.strip(), value.strip()


def _is_number(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


def _number(text: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise SuiteError(f"training method {text!r} has a parameter that is not a number; write e.g. mixup:8") from None


def plugin(module_name: str, factory_name: str, param: float | None, options: dict, text: str) -> Method:
    """A user's method: ``module_name.factory_name(param, **options)`` must return a Method."""
    factory = import_factory(f"training method {text!r}", module_name, factory_name,
                             alternatives=", or choose one of: " + ", ".join(sorted(METHODS)))
    try:
        method = _call(factory, param, options)
    except SuiteError:
        raise
    except Exception as err:  # the user's code: one line, whatever it raised
        raise SuiteError(f"training method {text!r}: {module_name}.{factory_name}() failed with {one_line(err)}") from None
    if not isinstance(method, Method):
        raise SuiteError(f"training method {text!r}: {module_name}.{factory_name}() returned a "
                         f"{type(method).__name__}, not a robustness.methods.Method")
    method.source = f"{module_name}:{factory_name}"
    method.name = method.name or factory_name  # names its family and its models
    return method


def _call(factory: Callable, param: float | None, options: dict) -> Method:
    """The factory called with the spec's parameter and options, or a one-line error naming its signature."""
    args = () if param is None else (param,)
    try:
        inspect.signature(factory).bind(*args, **options)
    except TypeError as err:
        raise SuiteError(f"training method factory {factory.__module__}.{factory.__name__}{inspect.signature(factory)} "
                         f"cannot take {'a parameter' if args else 'no parameter'}"
                         f"{' and ' + ', '.join(options) if options else ''} ({err})") from None
    return factory(*args, **options)


def plugin_sources(method: Method) -> dict[str, str]:
    """sha256 of the source file of every user method in ``method`` (a changed file is a changed method)."""
    out = {}
    for step in method.steps():
        if step.source:
            path = Path(inspect.getsourcefile(type(step)) or "")
            out[step.source] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return out


def model_id(method: Method, seed: int) -> str:
    """The name of one trained model, e.g. "mixup_a1_s0"."""
    return f"{method.label}_s{seed}"
