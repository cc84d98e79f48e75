"""Any torchattacks L∞ attack by name: ``torchattacks:NAME[,KEY=VALUE…]``.

For example ``torchattacks:NIFGSM``, ``torchattacks:MIFGSM,steps=20,decay=0.5``,
``torchattacks:SPSA,nb_iter=50``, ``torchattacks:APGDT,steps=100``. NAME is a
torchattacks class whose docstring lists Linf among its distance measures and that
takes ``eps``; KEY is one of its constructor's arguments (``inspect.signature``),
VALUE an integer, a decimal or fraction (``2/255``), ``true``/``false`` or text.
The suite sets ``eps`` (from ``attack.eps``), ``seed`` (per (attack, ε, source,
batch) from ``attack.seed``, where the class has one), ``norm`` ("Linf") and, unless
given, ``n_classes`` (min(classes, 10): the true class and 9 targets, as Croce & Hein).
Write a step size as ``step_size=`` (torchattacks calls it ``alpha``; in this suite α
is mixup's). Anything else, and any unknown NAME or KEY, is a one-line error that
lists the valid ones, raised before anything runs. (Some torchattacks attacks assume
3-channel images: TIFGSM's kernel, for one, fails on 1-channel digits when it runs.)

Arguments: the spec (as above), ``config`` (only ``attack.norm``, which must be
"linf"; its arguments are in the spec, so no ``[attack.NAME]`` table), ``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞ radius in [0, 1]
pixel units), ``seed``. Random: assumed (every call is seeded). Unranked in the
worst-case flags. Input range: [0, 1]. Implementation: ``torchattacks.<NAME>``.

Example::

    x_adv = make_attack("torchattacks:MIFGSM,steps=20").build(model, 8 / 255, seed=0)(images, labels)
"""

from __future__ import annotations

import inspect
import re
from fractions import Fraction

import torchattacks

from attacks.base import Attack
from robustness.config import AttackConfig
from robustness.errors import SuiteError

PREFIX = "torchattacks:"
SET_BY_SUITE = {"model": "the model attacked", "eps": "attack.eps", "seed": "attack.seed (per attack, ε, source and batch)",
                "norm": "attack.norm"}
RENAMED = {"alpha": "step_size"}  # torchattacks' name -> the suite's


def linf_attacks() -> dict[str, type]:
    """torchattacks' L∞ attacks that take ``eps``, by class name (their docstrings state the distance measure)."""
    found = {}
    for name in torchattacks.__all__:
        cls = getattr(torchattacks, name)
        measure = re.search(r"Distance Measure\s*:\s*(.+)", inspect.getdoc(cls) or "")
        if measure and "Linf" in measure.group(1) and "eps" in arguments(cls):
            found[name] = cls
    return found


def arguments(cls: type) -> dict[str, inspect.Parameter]:
    return {k: p for k, p in inspect.signature(cls.__init__).parameters.items() if k not in ("self", "model")}


def parse_value(text: str):
    """'3' -> 3, '0.5' and '2/255' -> float, 'true'/'false' -> bool, anything else stays text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        return text


def parse_spec(spec: str) -> tuple[type, dict]:
    """(torchattacks class, constructor keyword arguments) of ``torchattacks:NAME[,KEY=VALUE…]``, or a one-line SuiteError."""
    name, *pairs = spec[len(PREFIX):].split(",")
    valid = linf_attacks()
    if name.strip() not in valid:
        raise SuiteError(f"unknown torchattacks attack {name.strip()!r} in {spec!r}; L∞ attacks: {', '.join(valid)}")
    cls = valid[name.strip()]
    allowed = {RENAMED.get(k, k): p for k, p in arguments(cls).items() if k not in SET_BY_SUITE}
    kwargs = {}
    for pair in pairs:
        key, eq, text = (part.strip() for part in pair.partition("="))
        if not eq or not key:
            raise SuiteError(f"{pair.strip()!r} in attack {spec!r} is not KEY=VALUE; write e.g. {PREFIX}{cls.__name__},steps=20")
        if key in SET_BY_SUITE:
            raise SuiteError(f"attack {spec!r} sets {key}, which the suite sets from {SET_BY_SUITE[key]}; leave it out")
        if key in RENAMED:
            raise SuiteError(f"attack {spec!r}: write {RENAMED[key]}= for torchattacks' {key} (α is mixup's in this suite)")
        if key not in allowed:
            raise SuiteError(f"torchattacks.{cls.__name__} has no argument {key!r} (in {spec!r}); valid: {', '.join(allowed) or 'none'}")
        value, default = parse_value(text), allowed[key].default
        if isinstance(default, (int, float)) and not isinstance(default, bool) and isinstance(value, (bool, str)):
            raise SuiteError(f"argument {key} of attack {spec!r} must be a number, not {text!r}")
        kwargs[next(k for k in arguments(cls) if RENAMED.get(k, k) == key)] = value
    return cls, kwargs


class TorchattacksAttack(Attack):
    random = True  # unknown, so every call is seeded (it costs nothing)

    def __init__(self, config: AttackConfig, name: str, num_classes: int = 10):
        super().__init__(config, name, num_classes)
        self.cls, self.kwargs = parse_spec(name)

    def describe(self) -> str:
        cls, _, args = self.name.removeprefix(PREFIX).partition(",")
        return f"{cls}({args})" if args else cls

    def step_size(self, eps: float) -> float:
        default = arguments(self.cls).get("alpha")
        return self.kwargs.get("alpha", default.default if default else eps)

    def build(self, model, eps: float, seed: int = 0):
        kwargs, params = dict(self.kwargs), arguments(self.cls)
        if "seed" in params:
            kwargs["seed"] = seed
        if "norm" in params:
            kwargs["norm"] = self.norm
        if "n_classes" in params:
            kwargs.setdefault("n_classes", self.target_classes())
        return self.cls(model, eps=eps, **kwargs)
