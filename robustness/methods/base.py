"""What every training method is: a small object that turns a batch into a loss.

A method is built from its spec, ``name[:param][,key=value…]`` (``"mixup:8"``,
``"mixup:1,partners=same_class"``, ``"dropout:0.5"``). It may

- ask for *model options* when the model is built (``dropout``),
- *transform* the batch: its inputs, its targets (a weighted list of label sets: the
  loss is Σ weight · CE(logits, labels)), or a mixing of hidden states at one of the
  architecture's declared mix points (``robustness.models.mix_points``),
- set *loss options* (``label_smoothing``), or compute the loss itself (``custom_loss``, or ``trainee_loss``
  when it needs per-run state: ELR's per-example targets, co-teaching's second network),
- ask for *more networks* trained alongside in the same unit (``networks = 2``: co-teaching), and act at the end
  of an epoch (``end_epoch``: forward correction estimates its transition matrix there).

Methods compose by one rule (``"mixup:8+dropout:0.5"``): model and loss options are
merged (two methods may not set the same one), transforms run in the order written,
and at most one method computes the loss. A method that draws random numbers gets
its own seeded streams (``MethodStreams``), so adding one never changes another's draws.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robustness.errors import SuiteError
from robustness.records import MethodFields


@dataclass(frozen=True)
class HiddenMix:
    """Mix the hidden state at ``layer`` (a module name of the model): h ← λ·h + (1−λ)·h[perm]."""

    layer: str
    perm: torch.Tensor
    lam: float


@dataclass(frozen=True)
class Batch:
    """One training batch as a method sees it."""

    inputs: torch.Tensor  # N×C×H×W float pixels in [0, 1]
    targets: tuple[tuple[float, torch.Tensor], ...]  # (weight, labels): the loss is Σ weight · CE(logits, labels)
    index: torch.Tensor | None = None  # the examples' positions in the training set
    hidden_mix: HiddenMix | None = None  # a mixing inside the model, done during the forward pass

    def replace(self, **changes: Any) -> Batch:
        return dataclasses.replace(self, **changes)

    @property
    def labels(self) -> torch.Tensor:
        """The first (unmixed) label set: each example's own labels."""
        return self.targets[0][1]


@dataclass
class MethodStreams:
    """A method's own seeded random streams, independent of shuffling, augmentation and every other method's."""

    torch: torch.Generator  # permutations, noise (CPU generator: the same draws on every device)
    numpy: np.random.Generator  # mixing coefficients λ
    aux: np.random.Generator  # anything else: a layer or a box to draw

    @classmethod
    def for_method(cls, seed: int, index: int) -> MethodStreams:
        """The ``index``-th random method of a run; index 0 has the streams mixup always drew from, so its
        numbers (and every run's weights) are what they were before methods became objects."""
        return cls(torch.Generator().manual_seed(seed + 1_000_003 + 7_919 * index),
                   np.random.default_rng(seed if index == 0 else [seed, index]),
                   np.random.default_rng([seed, index, 1]))


@dataclass
class Trainee:
    """What a method may look at while it transforms a batch."""

    model: nn.Module  # the model being trained, in training mode
    mix_points: tuple[str, ...]  # where hidden states may be mixed ("input" first); robustness.models.mix_points
    train_images: torch.Tensor  # the whole training set on the device (uint8 or float pixels)
    train_labels: torch.Tensor  # the labels trained on (noisy ones under label noise)
    cache: dict = dataclasses.field(default_factory=dict)  # per-run precomputations and state (nearest neighbours)
    peers: tuple[nn.Module, ...] = ()  # the other networks of a method with ``networks > 1``, in training mode
    epoch: int = 0  # the epoch being trained, from 1 (0: outside the training loop)
    epochs: int = 0  # how many epochs this run trains


def fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class Method:
    """One training trick. Subclasses set the class attributes and override ``transform`` (and, when
    they need to, ``model_options``, ``loss_options``, ``custom_loss``, ``check``)."""

    name: ClassVar[str] = ""  # registry name, the spec's head
    title: ClassVar[str] = ""  # for people: "mixup"
    param_name: ClassVar[str | None] = None  # the parameter's name in results.json, e.g. "mixup_alpha"; None: no parameter
    param_symbol: ClassVar[str] = ""  # in displays: "α" -> mixup (α=8)
    tag: ClassVar[str] = ""  # before the parameter in labels: "a" -> mixup_a8 (default: param_symbol, else "p")
    param_default: ClassVar[float | None] = None
    defaults: ClassVar[dict[str, Any]] = {}  # the ,key=value options and their defaults (their types, too)
    random: ClassVar[bool] = False  # draws random numbers: gets MethodStreams
    add_on: ClassVar[bool] = False  # an add-on to ERM's objective (dropout, label smoothing, input noise): "ERM + …"
    networks: ClassVar[int] = 1  # networks trained together in one unit; the first is the one returned (co-teaching: 2)
    text_param: ClassVar[str | None] = None  # the option a spec's non-numeric parameter sets ("forward:estimate")
    source: str | None = None  # "package.module:factory" of a user's method (set when it is loaded); None: built in

    def __init__(self, param: float | None = None, **options: Any):
        if param is not None and self.param_name is None:
            raise SuiteError(f"training method {self.name!r} takes no parameter; write {self.name}")
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            valid = ", ".join(self.defaults) or "none"
            raise SuiteError(f"training method {self.name!r} has no option {unknown[0]!r}; its options: {valid}")
        self.param = self.param_default if param is None else float(param)
        self.options = {key: _as(type(default), options.get(key, default), self.name, key)
                        for key, default in self.defaults.items()}
        self.check()

    def check(self) -> None:
        """Raise a one-line SuiteError for a parameter or option that cannot be right."""

    # --- identity -------------------------------------------------------------------------------

    def changed_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if v != self.defaults[k]}

    @property
    def spec(self) -> str:
        """The canonical spec: defaults left out, numbers as %g."""
        head = self.source or self.name
        head = head if self.param_name is None or self.param is None else f"{head}:{fmt(self.param)}"
        return head + "".join(f",{k}={fmt(v)}" for k, v in self.changed_options().items())

    @property
    def label(self) -> str:
        """Identifier-safe, unique per spec: "mixup_a8", "mixup_a1_partners-same_class"."""
        tag = self.tag or self.param_symbol or "p"
        head = self.name if self.param_name is None else f"{self.name}_{tag}{fmt(self.param)}"
        return re.sub(r"[^A-Za-z0-9_.-]", "-", head + "".join(f"_{k}-{fmt(v)}" for k, v in self.changed_options().items()))

    @property
    def family(self) -> str:
        """What reports group seeds by and colour: the name, plus options that change what is trained."""
        return self.name + "".join(f"/{k}={fmt(v)}" for k, v in self.changed_options().items())

    @property
    def part(self) -> str:
        """The method's words inside a display: "mixup (α=8)", "dropout (p=0.5)"."""
        shown = [f"{self.param_symbol or 'p'}={fmt(self.param)}"] if self.param_name else []
        shown += [f"{k}={fmt(v)}" for k, v in self.changed_options().items()]
        return f"{self.title or self.name} ({', '.join(shown)})" if shown else (self.title or self.name)

    @property
    def display(self) -> str:
        return f"ERM + {self.part}" if self.add_on else self.part

    @property
    def params(self) -> dict[str, Any]:
        """The settings as records in results.json state them."""
        own = {self.param_name: self.param} if self.param_name else {}
        return own | {f"{self.name}_{k}": v for k, v in self.changed_options().items()}

    def fields(self) -> MethodFields:
        return MethodFields(method=self.spec, family=self.family, display=self.display, params=self.params)

    def steps(self) -> tuple[Method, ...]:
        """The methods a batch passes through, in order (one, or a combination's parts)."""
        return (self,)

    def at_noise_rate(self, rate: float | None, spec: str) -> Method:
        """This method as it trains on labels of noise ``spec`` whose noise rate is ``rate`` (None: the spec names
        none; 0 on clean labels): itself, unless a setting follows the noise rate (``coteaching:noise``). The
        stages call it before a unit key is made, so keys and results.json hold the concrete setting."""
        return self

    # --- behaviour ------------------------------------------------------------------------------

    @property
    def model_options(self) -> dict[str, Any]:
        """Options for building the model: only ``dropout`` (probability) today."""
        return {}

    @property
    def loss_options(self) -> dict[str, Any]:
        """Options of the cross-entropy: only ``label_smoothing`` today."""
        return {}

    def transform(self, batch: Batch, trainee: Trainee, streams: MethodStreams | None) -> Batch:
        """The batch this method trains on instead (default: unchanged)."""
        return batch

    def custom_loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor | None:
        """The loss, for a method that computes its own; None: the weighted cross-entropy of the targets."""
        return None

    def trainee_loss(self, logits: torch.Tensor, batch: Batch, trainee: Trainee) -> torch.Tensor | None:
        """``custom_loss`` for a method that also needs the run's state (``trainee.cache``, ``peers``, ``epoch``)."""
        return self.custom_loss(logits, batch)

    def end_epoch(self, trainee: Trainee) -> None:
        """Called by the training loop after each epoch's last step (``trainee.epoch`` is the epoch just trained)."""

    def computes_loss(self) -> bool:
        return type(self).custom_loss is not Method.custom_loss or type(self).trainee_loss is not Method.trainee_loss

    def streams(self, seed: int) -> list[MethodStreams]:
        """One set of streams per random step, in order."""
        return [MethodStreams.for_method(seed, k) for k in range(sum(step.random for step in self.steps()))]

    def loss(self, trainee: Trainee, batch: Batch, streams: list[MethodStreams]) -> torch.Tensor:
        """The training loss of one batch: every step's transform, the forward pass, the loss."""
        random_streams = iter(streams)
        for step in self.steps():
            batch = step.transform(batch, trainee, next(random_streams) if step.random else None)
        logits = forward(trainee.model, batch)
        for step in self.steps():
            custom = step.trainee_loss(logits, batch, trainee)
            if custom is not None:
                return custom
        return weighted_cross_entropy(logits, batch.targets, **self.loss_options)

    def __repr__(self) -> str:
        return f"<method {self.spec}>"


class Combined(Method):
    """Methods joined with ``+``, trained together by the one rule of the module docstring."""

    def __init__(self, parts: list[Method]):
        self.parts = tuple(parts)
        names = [p.name for p in parts]
        spec = "+".join(p.spec for p in parts)
        if "erm" in names:
            raise SuiteError(f"training method {spec!r} adds erm, which is plain cross-entropy; write the others alone")
        if len(set(names)) < len(names):
            raise SuiteError(f"training method {spec!r} names {sorted(n for n in names if names.count(n) > 1)[0]} twice")
        self._model_options = merged(parts, "model_options", spec)
        self._loss_options = merged(parts, "loss_options", spec)
        own_loss = [p for p in parts if p.computes_loss()]
        if len(own_loss) > 1:
            raise SuiteError(f"training method {spec!r} joins two methods that each compute their own loss")
        if own_loss and self._loss_options:  # its loss is not the cross-entropy those options change
            raise SuiteError(f"training method {spec!r}: {own_loss[0].name} computes its own loss, so "
                             f"{', '.join(self._loss_options)} cannot change it; drop one of the two")
        self.param, self.options = None, {}
        self.networks = max(p.networks for p in parts)

    name = "combined"
    spec = property(lambda self: "+".join(p.spec for p in self.parts))
    label = property(lambda self: "_".join(p.label for p in self.parts))
    # The same family whichever order the parts are written in: "mixup+dropout".
    family = property(lambda self: "+".join(sorted((p.family for p in self.parts), reverse=True)))
    params = property(lambda self: {k: v for p in self.parts for k, v in p.params.items()})
    model_options = property(lambda self: self._model_options)
    loss_options = property(lambda self: self._loss_options)

    @property
    def display(self) -> str:
        words = " + ".join(p.part for p in self.parts)
        return f"ERM + {words}" if all(p.add_on for p in self.parts) else words

    def steps(self) -> tuple[Method, ...]:
        return self.parts

    def at_noise_rate(self, rate: float | None, spec: str) -> Method:
        parts = [part.at_noise_rate(rate, spec) for part in self.parts]
        return self if all(new is old for new, old in zip(parts, self.parts)) else Combined(parts)

    def end_epoch(self, trainee: Trainee) -> None:
        for part in self.parts:
            part.end_epoch(trainee)


def merged(parts: list[Method], kind: str, spec: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in getattr(part, kind).items():
            if key in out:
                raise SuiteError(f"training method {spec!r} sets {key} twice; join methods that set different things")
            out[key] = value
    return out


def forward(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The model's logits for the batch, mixing hidden states at ``batch.hidden_mix.layer`` on the way."""
    mix = batch.hidden_mix
    if mix is None:
        return model(batch.inputs)
    layer = dict(model.named_modules())[mix.layer]
    handle = layer.register_forward_hook(lambda module, args, out: mix.lam * out + (1 - mix.lam) * out[mix.perm])
    try:
        return model(batch.inputs)
    finally:
        handle.remove()


def weighted_cross_entropy(logits: torch.Tensor, targets, label_smoothing: float = 0.0) -> torch.Tensor:
    """Σ weight · CE(logits, labels) over the targets, in order (for mixup: λ·CE(y) + (1−λ)·CE(y[perm]),
    cross-entropy against the mixed one-hot target)."""
    options = {"label_smoothing": label_smoothing} if label_smoothing else {}  # the plain call otherwise
    loss = None
    for weight, labels in targets:
        term = weight * F.cross_entropy(logits, labels, **options)
        loss = term if loss is None else loss + term
    return loss


def weighted_loss(loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], logits: torch.Tensor,
                  targets) -> torch.Tensor:
    """Σ weight · loss_of(logits, labels) over the targets: a custom loss under mixup's mixed targets, as
    ``weighted_cross_entropy`` is for the cross-entropy (the loss of each label set, weighted)."""
    loss = None
    for weight, labels in targets:
        term = weight * loss_of(logits, labels)
        loss = term if loss is None else loss + term
    return loss


def _as(kind: type, value: Any, name: str, key: str) -> Any:
    """An option's value as the type of its default (options arrive as text from a spec)."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise SuiteError(f"training method {name!r}: option {key}={value!r} must be a {kind.__name__}") from None
