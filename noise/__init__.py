"""Corrupted training labels. One registry of noise models; ``corrupt`` applies one.

    from noise import corrupt
    noisy = corrupt(train_labels, "uniform:0.5", num_classes=10, seed=0)
    noisy.labels, noisy.replaced, noisy.realized_rate, noisy.confusion
"""

from noise.core import NOISE_MODELS, NoisyLabels, corrupt, register_noise
from noise import uniform  # noqa: F401  (registers "uniform")

__all__ = ["NOISE_MODELS", "NoisyLabels", "corrupt", "register_noise"]
