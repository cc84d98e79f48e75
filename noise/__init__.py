"""Corrupted training labels. One registry of noise models; ``corrupt`` applies one.

    from noise import corrupt
    noisy = corrupt(train_labels, "uniform:0.5", num_classes=10, seed=0)
    noisy.labels, noisy.replaced, noisy.realized_rate, noisy.confusion
"""

from noise import labels_file, matrix, pairflip, symmetric, uniform  # noqa: F401  (each registers one model)
from noise.benchmark import assemble_noise, noise_specs
from noise.core import NOISE_MODELS, NoisyLabels, check_spec, corrupt, nominal_rate, register_noise, spec_file

__all__ = ["NOISE_MODELS", "NoisyLabels", "assemble_noise", "check_spec", "corrupt", "noise_specs", "nominal_rate",
           "register_noise", "spec_file"]
