"""mixup — Zhang, Cisse, Dauphin, Lopez-Paz, "mixup: Beyond Empirical Risk Minimization", ICLR 2018.

As the paper's code: one λ ~ Beta(α, α) per batch, each example's partner from an in-batch
permutation, input λ·x + (1−λ)·x', loss λ·CE(y) + (1−λ)·CE(y'). α = 0 draws nothing and is
exactly ERM (tested).

Parameter: α ≥ 0 (default 1, the paper's CIFAR-10 choice). Options, the paper's ablation of mixup:

- ``partners=all|same_class``: partners from any class (default) or from the same class only;
- ``pairing=random|knn``: a random partner (default) or one of the example's ``k`` nearest
  neighbours in input space among the whole training set (``k=200``, the paper's);
- ``mix=both|inputs|labels``: mix inputs and labels (default), the inputs only (each example keeps
  its own label), or the labels only (the inputs stay as they are);
- ``layer=K``: mix the hidden states at the architecture's K-th mix point instead of the pixels
  (``robustness.models.mix_points``; 0 = the input, the default).

Random: λ, the partners (and a neighbour's rank), from the method's own seeded streams.
Example: ``parse_method("mixup:1,partners=same_class,pairing=knn")``.
"""

from __future__ import annotations

import torch

from robustness.data import as_pixels
from robustness.errors import SuiteError
from robustness.methods.base import Batch, HiddenMix, Method, MethodStreams, Trainee
from robustness.methods.registry import register_method

CHOICES = {"partners": ("all", "same_class"), "pairing": ("random", "knn"), "mix": ("both", "inputs", "labels")}


@register_method("mixup")
class Mixup(Method):
    title, param_name, param_symbol, tag, param_default = "mixup", "mixup_alpha", "α", "a", 1.0
    defaults = {"partners": "all", "pairing": "random", "k": 200, "mix": "both", "layer": 0}
    random = True

    def check(self) -> None:
        if self.param < 0:
            raise SuiteError(f"mixup α must be ≥ 0, not {self.param:g}; α = 1 is the paper's CIFAR-10 default")
        for key, valid in CHOICES.items():
            if self.options[key] not in valid:
                raise SuiteError(f"mixup option {key}={self.options[key]} is unknown; choose one of: {', '.join(valid)}")
        if self.options["k"] < 1 or self.options["layer"] < 0:
            raise SuiteError("mixup options need k ≥ 1 and layer ≥ 0 (0 = the input)")
        if self.options["pairing"] == "knn" and self.options["layer"]:
            raise SuiteError("mixup with pairing=knn mixes pixels with partners outside the batch; it cannot mix at a layer")

    def transform(self, batch: Batch, trainee: Trainee, streams: MethodStreams) -> Batch:
        if self.param <= 0:  # α = 0: λ = 1, nothing drawn, exactly ERM
            return batch
        lam = float(streams.numpy.beta(self.param, self.param))
        o = self.options
        if o["pairing"] == "knn":
            index = neighbour_partners(batch, trainee, streams, o["k"], o["partners"] == "same_class")
            return mix(batch, lam, as_pixels(trainee.train_images[index]), trainee.train_labels[index], o["mix"])
        perm = in_batch_partners(batch.labels, streams, o["partners"] == "same_class")
        if o["layer"]:
            return mix_at_layer(batch, trainee, o["layer"], perm, lam)
        return mix(batch, lam, batch.inputs[perm], batch.labels[perm], o["mix"])


def mix(batch: Batch, lam: float, other_x: torch.Tensor, other_y: torch.Tensor, what: str = "both") -> Batch:
    """λ·x + (1−λ)·x' and λ·CE(y) + (1−λ)·CE(y'), or one of the two (``what``: both, inputs, labels)."""
    inputs = lam * batch.inputs + (1 - lam) * other_x if what in ("both", "inputs") else batch.inputs
    targets = ((lam, batch.labels), (1 - lam, other_y)) if what in ("both", "labels") else batch.targets
    return batch.replace(inputs=inputs, targets=targets)


def mix_at_layer(batch: Batch, trainee: Trainee, layer: int, perm: torch.Tensor, lam: float) -> Batch:
    """Mix hidden states at the ``layer``-th mix point (0: the pixels), and the labels alike."""
    if layer >= len(trainee.mix_points):
        raise SuiteError(f"layer {layer} is not a mix point of this architecture; it has {len(trainee.mix_points)} "
                         f"(0 to {len(trainee.mix_points) - 1}): {', '.join(trainee.mix_points)}")
    if layer == 0:
        return mix(batch, lam, batch.inputs[perm], batch.labels[perm])
    targets = ((lam, batch.labels), (1 - lam, batch.labels[perm]))
    return batch.replace(targets=targets, hidden_mix=HiddenMix(trainee.mix_points[layer], perm, lam))


def in_batch_partners(labels: torch.Tensor, streams: MethodStreams, same_class: bool = False) -> torch.Tensor:
    """A partner for each example from a random permutation of the batch, or of its class within the batch."""
    n = len(labels)
    if not same_class:
        return torch.randperm(n, generator=streams.torch).to(labels.device)
    cpu, perm = labels.cpu(), torch.arange(n)
    for c in torch.unique(cpu).tolist():  # sorted: the draws follow the classes in order
        members = torch.nonzero(cpu == c).flatten()
        perm[members] = members[torch.randperm(len(members), generator=streams.torch)]
    return perm.to(labels.device)


def neighbour_partners(batch: Batch, trainee: Trainee, streams: MethodStreams, k: int, same_class: bool) -> torch.Tensor:
    """Training-set indices: for each example, one of its k nearest neighbours (pixel space), drawn at random."""
    table = nearest_neighbours(trainee, k, same_class)
    columns = torch.randint(table.shape[1], (len(batch.index),), generator=streams.torch).to(table.device)
    return table[batch.index, columns]


def nearest_neighbours(trainee: Trainee, k: int, same_class: bool, chunk: int = 1024) -> torch.Tensor:
    """N×k indices of each training example's k nearest other examples (Euclidean, pixels), computed once per run."""
    key = ("knn", k, same_class)
    if key not in trainee.cache:
        x = as_pixels(trainee.train_images).flatten(1)
        y, squares = trainee.train_labels, (x * x).sum(1)
        k = min(k, len(x) - 1) if not same_class else min(k, int(torch.bincount(y).min()) - 1)
        if k < 1:
            raise SuiteError("mixup with pairing=knn needs at least two training examples of every class")
        rows = []
        for start in range(0, len(x), chunk):
            part = slice(start, start + chunk)
            distance = squares[part, None] - 2 * x[part] @ x.T + squares[None]
            distance[torch.arange(distance.shape[0]), torch.arange(start, start + distance.shape[0])] = float("inf")
            if same_class:
                distance[y[part, None] != y[None]] = float("inf")
            rows.append(distance.topk(k, dim=1, largest=False).indices)
        trainee.cache[key] = torch.cat(rows)
    return trainee.cache[key]
