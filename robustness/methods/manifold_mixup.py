"""Manifold Mixup — Verma, Lamb, Beckham, Najafi, Mitliagkas, Lopez-Paz, Bengio, "Manifold Mixup: Better
Representations by Interpolating Hidden States", ICML 2019.

mixup of hidden states: per batch, a layer is drawn uniformly from the architecture's mix points
(``robustness.models.mix_points``: "input" first, then e.g. the ends of a ResNet's first two stages),
and the hidden states there are mixed, h ← λ·h + (1−λ)·h[perm], with the labels mixed alike. At
"input" it is mixup exactly, bit for bit (tested): the layer is drawn from its own stream.

Parameter: α ≥ 0 (default 2, the authors' CIFAR-10 choice). Option ``layers=0/1/2``: the mix points
to draw from, by index (default ``all``). Random: the layer, λ, the partners (the method's own streams).
Example: ``parse_method("manifold_mixup:2,layers=0/1")``.
"""

from __future__ import annotations

from robustness.errors import SuiteError
from robustness.methods.base import Batch, Method, MethodStreams, Trainee
from robustness.methods.mixup import in_batch_partners, mix_at_layer
from robustness.methods.registry import register_method


@register_method("manifold_mixup")
class ManifoldMixup(Method):
    title, param_name, param_symbol, tag, param_default = "manifold mixup", "manifold_mixup_alpha", "α", "a", 2.0
    defaults = {"layers": "all"}
    random = True

    def check(self) -> None:
        if self.param < 0:
            raise SuiteError(f"manifold_mixup α must be ≥ 0, not {self.param:g}; the authors use α = 2 on CIFAR-10")
        self.layer_indices(8)  # the syntax; the range is checked against the architecture when training starts

    def layer_indices(self, count: int) -> list[int]:
        """The mix points to draw from, by index, for an architecture with ``count`` of them."""
        text = self.options["layers"]
        if text == "all":
            return list(range(count))
        try:
            chosen = [int(part) for part in text.split("/")]
        except ValueError:
            raise SuiteError(f"manifold_mixup option layers={text} must be 'all' or indices joined by '/', e.g. 0/1/2") from None
        if any(not 0 <= k < count for k in chosen) or not chosen:
            raise SuiteError(f"manifold_mixup option layers={text}: this architecture has mix points 0 to {count - 1}")
        return chosen

    def transform(self, batch: Batch, trainee: Trainee, streams: MethodStreams) -> Batch:
        if self.param <= 0:
            return batch
        choices = self.layer_indices(len(trainee.mix_points))
        layer = choices[int(streams.aux.integers(len(choices)))]  # its own stream: λ and perm stay mixup's
        lam = float(streams.numpy.beta(self.param, self.param))
        return mix_at_layer(batch, trainee, layer, in_batch_partners(batch.labels, streams), lam)
