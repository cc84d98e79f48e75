"""What every attack is: one small object per attack, in the manner of torchattacks.

An attack is one file: its class declares its own settings (``Settings``, a small frozen dataclass
with defaults, each field's unit and range in its comment; TOML reaches them as ``[attack.pgd]
steps = 40``), their ``check``, its display name (``title``), a one-line ``describe`` of the
attack as configured, its strength rank and, for the ranked attacks the error check compares, the
likely cause when it falls short (``shortfall``). Registering it (``@register_attack``) is all
the rest of the suite needs.

An ``Attack`` is built from the ``[attack]`` section (``robustness.config.AttackConfig``: what every
attack shares, and each attack's given settings). ``build(model, eps, seed)`` returns the
reference torchattacks attack at one ε (what a user would write, and what the tests
compare against). ``craft_every_eps`` optionally crafts every ε of a batch in one pass,
with the same numbers as calling ``build`` once per ε; it returns None where the
attack cannot (the caller then falls back to ``build``). Each attack declares its step
size, whether it draws random numbers (then the attack stage seeds it per
(attack, ε, source model, batch), so numbers never depend on the order of work: through
torch's global generator inside ``attacks.seeding.seeded``, and through the ``seed``
argument where torchattacks has one), the threat models it supports (``norms``), whether
it needs gradients (Square does not: it only reads the logits) and its rank among the
white-box attacks (``strength``: a stronger attack should break every image a weaker one
breaks; the worst-case flags compare them).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from dataclasses import dataclass
from typing import ClassVar, Sequence

import torch
from torch import nn

from attacks.workers import INLINE, Workers
from robustness.config import AttackConfig, coerce
from robustness.errors import SuiteError

NORM_NAMES = {"linf": "Linf", "l2": "L2"}  # attack.norm -> torchattacks' and RobustBench's name of the threat model
TARGET_CLASSES = 9  # Croce & Hein's targeted attacks (APGD-T, FAB-T) try the 9 highest-scoring wrong classes


class Attack:
    """One attack at any ε. Subclasses set ``title``, ``random`` (and the other class attributes that apply),
    declare ``Settings`` and ``check`` when they have settings, and implement ``build`` and ``describe``;
    ``step_size``, ``craft_every_eps`` and ``queries`` where they apply."""

    @dataclass(frozen=True)
    class Settings:
        """The attack's own settings (none here): each field with a default, and its unit and range in a comment."""

    title: ClassVar[str] = ""  # as people write it: "I-FGSM" (formatting.attack_name; default: the name in capitals)
    random: ClassVar[bool] = False  # draws random numbers (a random start): crafted under a seed
    norms: ClassVar[tuple[str, ...]] = ("linf",)  # the threat models (attack.norm) it has a version for
    gradients: ClassVar[bool] = True  # False: reads only the logits (a score-based black box)
    strength: ClassVar[int | None] = None  # rank among white-box attacks (higher: should break a superset); None: unranked
    # The likely cause when its white-box error falls below the next weaker attack's that the error check compares
    # (attacks/checks.py): set on the ranked attacks that check compares, None on the others.
    shortfall: ClassVar[str | None] = None
    # An ensemble's parts, by title, in the order they run (AutoAttack: APGD-CE, APGD-T, FAB-T, Square); () for one attack.
    # Its white-box cells count the images each part broke first (``parts`` in results.json; attacks/checks.py reads them).
    part_names: ClassVar[tuple[str, ...]] = ()
    part_classes: ClassVar[dict[str, int]] = {}  # part -> the fewest classes it can run on (left out below that)
    standard_classes: ClassVar[int | None] = None  # classes the published version needs (its 9 targets); None: any
    mixes_score_based: ClassVar[bool] = False  # an ensemble with a score-based part (Square): not a pure gradient attack
    # Bumped when the attack's numbers change under the same name and settings: a unit key holds it when it is not 0,
    # so a finished unit of an earlier revision is recomputed, never reused (robustness/stages/attack.py).
    revision: ClassVar[int] = 0

    def __init__(self, config: AttackConfig, name: str, num_classes: int = 10):
        self.config = config  # what every attack shares: norm, ε, seed, batch sizes
        self.name = name  # as configured: seeds and results.json cells are keyed by it
        self.num_classes = num_classes  # the model's outputs: targeted attacks pick their target classes among them
        self.settings = self.settings_from(config.settings_of(name), name)  # its own, defaults filled in
        self.check()

    @classmethod
    def settings_from(cls, given: dict, name: str) -> Settings:
        """``Settings`` from the given {key: value} (TOML's types; each converted to its default's type).
        A key that is not one of its settings is a one-line SuiteError listing the valid ones."""
        valid = {f.name: f.default for f in dataclasses.fields(cls.Settings)}
        for key in given:
            if key not in valid:
                keys = f"valid keys: {', '.join(valid)}" if valid else f"{name} has no settings of its own"
                raise SuiteError(f"unknown key [attack.{name}] {key}; {keys}")
        return cls.Settings(**{key: coerce(value, valid[key], f"attack.{name}.{key}") for key, value in given.items()})

    def where(self, key: str) -> str:
        """How a setting is named in messages: "attack.pgd.steps"."""
        return f"attack.{self.name}.{key}"

    def check(self) -> None:
        """Each setting in its range, or a one-line SuiteError saying what to write (see ``Settings``)."""

    def describe(self) -> str:
        """The attack as configured, in words, for the report: "PGD: 10 steps of 2.5·ε/10, random start, 1 restart(s)"."""
        return self.title or self.name.upper()

    @property
    def norm(self) -> str:
        """torchattacks' name of the threat model: "Linf" or "L2"."""
        return NORM_NAMES[self.config.norm]

    def target_classes(self) -> int:
        """torchattacks' ``n_classes`` for APGD-T and FAB-T: the true class plus up to 9 targets, as Croce & Hein."""
        return min(self.num_classes, TARGET_CLASSES + 1)

    def step_size(self, eps: float) -> float:
        """The size of one step at radius ``eps`` (pixels in [0, 1]; an L2 length under attack.norm = "l2")."""
        return eps

    def build(self, model: nn.Module, eps: float, seed: int = 0):
        """The reference torchattacks attack at one ε: ``build(model, eps, seed)(images, labels) -> images``.
        ``seed`` reaches torchattacks' own ``seed`` argument where the attack has one."""
        raise NotImplementedError

    def craft_every_eps(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Sequence[float],
                        seeds: Sequence[int], workers: Workers = INLINE) -> torch.Tensor | None:
        """E×N×… adversarial images, one stack per ε, bit-identical to ``build`` per ε; None: not fusable.
        ``workers`` runs the gradient passes chunk by chunk (``attacks.workers``; default: whole, inline)."""
        return None

    def pass_images(self, n_eps: int, batch: int) -> int:
        """Images in one gradient pass when ``craft_every_eps`` crafts ``n_eps`` ε of a ``batch`` at once (what
        memory grows with): the whole stack for an iterative attack."""
        return n_eps * batch

    def queries(self, crafter) -> torch.Tensor | None:
        """Per image of the last batch ``crafter`` (what ``build`` returned) attacked: the model queries it
        spent (a score-based attack's cost); None for attacks that do not count them."""
        return None

    def query_budget(self) -> int | None:
        """The most queries it spends on one image; None for attacks that do not count them."""
        return None

    def broken_by(self, crafter) -> torch.Tensor | None:
        """Per image of the last batch ``crafter`` attacked: the index (in ``part_names``) of the ensemble's part that
        broke it first, -1 for none (or wrong when clean); None for an attack that is not an ensemble."""
        return None

    def running_parts(self) -> tuple[str, ...]:
        """The parts that run on a model with ``num_classes`` outputs: those needing more classes are left out."""
        return tuple(p for p in self.part_names if self.num_classes >= self.part_classes.get(p, 2))


def check_classes(attack: Attack, fewest: int, why: str) -> None:
    """A one-line SuiteError when the model has fewer than ``fewest`` classes (a loss that reads that many logits)."""
    if attack.num_classes < fewest:
        raise SuiteError(f"attack {attack.name!r} needs at least {fewest} classes ({why}); this model has "
                         f"{attack.num_classes}")


def setting_notes(cls: type) -> dict[str, str]:
    """Each field of ``cls.Settings`` -> its comment (unit and range), read from the source: the comment on its
    line, or the comment lines just above it. What ``attacks.registry.settings_table`` prints."""
    settings = cls.Settings
    lines, _ = inspect.getsourcelines(settings)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    notes = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            line = lines[node.lineno - 1]
            note = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            above, k = [], node.lineno - 2
            while not note and k >= 0 and lines[k].strip().startswith("#"):
                above.insert(0, lines[k].strip().lstrip("#").strip())
                k -= 1
            notes[node.target.id] = note or " ".join(above)
    return notes

