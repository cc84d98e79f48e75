"""Gaussian input noise: ERM on x + σ·N(0, 1), clipped to pixels in [0, 1]. One of the mixup paper's
ablation rows ("ERM with noise added to the inputs").

Parameter: σ, in pixel units on [0, 1] (default 0.1). Random: the noise, from the method's own
seeded stream. Example: ``parse_method("gaussian_noise:0.1")``.
"""

from __future__ import annotations

import torch

from robustness.errors import SuiteError
from robustness.methods.base import Batch, Method, MethodStreams, Trainee
from robustness.methods.registry import register_method


@register_method("gaussian_noise")
class GaussianNoise(Method):
    title, param_name, param_symbol, param_default = "Gaussian noise", "noise_sigma", "σ", 0.1
    random = True
    add_on = True

    def check(self) -> None:
        if self.param < 0:
            raise SuiteError(f"gaussian_noise σ must be ≥ 0, not {self.param:g}; it is in pixel units, e.g. 0.1")

    @property
    def label(self) -> str:
        return f"gaussian_noise_s{self.param:g}"

    def transform(self, batch: Batch, trainee: Trainee, streams: MethodStreams) -> Batch:
        x = batch.inputs
        noise = torch.randn(x.shape, generator=streams.torch).to(x.device, x.dtype)  # drawn on the CPU: any device, same noise
        return batch.replace(inputs=(x + self.param * noise).clamp(0, 1))
