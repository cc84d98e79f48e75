"""Dropout — Srivastava et al., JMLR 2014: ERM with units dropped at random inside the model.

Parameter: p, the drop probability in [0, 1) (default 0.5; the mixup paper's grid is 0.5,
0.7, 0.8, 0.9). Where the dropout layer sits is the architecture's choice
(robustness/models.py: one per PreAct block after the ReLU between its two
convolutions, as in the paper; after the hidden ReLU of the small digits nets).
Its randomness is torch's global generator, seeded with the model's seed.

Example: ``parse_method("dropout:0.8")``, or with mixup ``parse_method("mixup:8+dropout:0.5")``.
"""

from __future__ import annotations

from robustness.errors import SuiteError
from robustness.methods.base import Method
from robustness.methods.registry import register_method


@register_method("dropout")
class Dropout(Method):
    title, param_name, param_symbol, param_default = "dropout", "dropout", "p", 0.5
    add_on = True

    def check(self) -> None:
        if not 0.0 <= self.param < 1.0:
            raise SuiteError(f"dropout p must be in [0, 1), not {self.param:g}; the paper's grid is 0.5, 0.7, 0.8, 0.9")

    @property
    def model_options(self) -> dict:
        return {"dropout": self.param}
