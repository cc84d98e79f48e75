"""Label smoothing — Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016.

The target puts 1 − ε on the label and spreads ε evenly over all C classes, so the loss is
(1 − ε)·CE(logits, y) + ε·mean over classes of −log softmax (``F.cross_entropy(label_smoothing=ε)``).
Parameter: ε in [0, 1) (default 0.1). One of the mixup paper's ablation rows.

Example: ``parse_method("label_smoothing:0.1")``; with mixup it smooths both mixed targets.
"""

from __future__ import annotations

from robustness.errors import SuiteError
from robustness.methods.base import Method
from robustness.methods.registry import register_method


@register_method("label_smoothing")
class LabelSmoothing(Method):
    title, param_name, param_symbol, param_default = "label smoothing", "label_smoothing", "ε", 0.1
    add_on = True

    def check(self) -> None:
        if not 0.0 <= self.param < 1.0:
            raise SuiteError(f"label smoothing ε must be in [0, 1), not {self.param:g}; 0.1 is the usual value")

    @property
    def label(self) -> str:
        return f"label_smoothing_e{self.param:g}"

    @property
    def loss_options(self) -> dict:
        return {"label_smoothing": self.param}
