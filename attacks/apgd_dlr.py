"""APGD-DLR — Croce, Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020.

APGD (see ``attacks/apgd_ce.py``) on the Difference of Logits Ratio loss,
−(z_y − max_{i≠y} z_i) / (z_π1 − z_π3): invariant to shifting and rescaling the
logits, so a model that only inflates its logits (one way of masking gradients
for the cross-entropy) does not fool it.

Settings (``[attack.apgd_dlr]``, APGD-CE's): ``steps`` (default 10; Croce & Hein use 100).
Arguments: ``config.norm`` ("linf", default, or "l2"), ``model`` (pixels in [0, 1] in, logits
out; at least 3 classes), ``eps`` (L∞ radius in [0, 1] pixel units, or an L2
radius), ``seed`` (the random start). One restart.
Input range: [0, 1]. Implementation: ``torchattacks.APGD(loss="dlr")``.

Example::

    x_adv = make_attack("apgd_dlr").build(model, 8 / 255, seed=0)(images, labels)
"""

from attacks.apgd_ce import APGDCE
from attacks.base import check_classes
from attacks.registry import register_attack


@register_attack("apgd_dlr")
class APGDDLR(APGDCE):
    title = "APGD-DLR"
    loss = "dlr"

    def check(self) -> None:
        super().check()
        check_classes(self, 3, "the DLR loss reads the 3 highest logits")
