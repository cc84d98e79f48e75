"""ERM — empirical risk minimization (Vapnik, 1998): plain cross-entropy on the training labels.

No parameter, no option. Example: ``parse_method("erm")``. Every other method is
measured against it; ``mixup:0`` and ``pgd_at:0`` train exactly like it (tested).
"""

from __future__ import annotations

from robustness.methods.base import Method
from robustness.methods.registry import register_method


@register_method("erm")
class ERM(Method):
    title = "ERM"
