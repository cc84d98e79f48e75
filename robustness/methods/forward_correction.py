"""Forward loss correction — Patrini, Rozza, Menon, Nock, Qu, "Making Deep Neural Networks Robust to Label
Noise: a Loss Correction Approach", CVPR 2017.

With T[i, j] = P(noisy label j | true class i), the model's clean prediction p = softmax(logits) becomes a
prediction of the noisy label, pᵀT, and the cross-entropy is taken of that: −log (Σ_i p_i T[i, y]). It is
computed in log space, logsumexp_i (log p_i + log T[i, y]), so T = identity gives exactly log p_y and trains
bit for bit as ERM (tested).

Option ``T`` (the spec's word parameter, ``forward:FILE`` is ``forward,T=FILE``):

- a ``.npy`` file: a C×C float array, entries ≥ 0, rows summing to 1 (within 1e-3), loaded with
  allow_pickle=False when the spec is read; its size must match the data's class count (checked at the
  first batch);
- ``estimate`` (default): the paper's estimator. The run's epochs are split: the first
  ``round(split · epochs)`` epochs (``split`` default 0.5, at least 1 and at most epochs − 1) train with plain
  cross-entropy; after the last of them, the model predicts every training image and, for each class i, the
  anchor is the image whose p_i is the largest below that column's 97th percentile (the paper's outlier
  filter, ``np.percentile(…, 97, interpolation='higher')``); T's row i is that image's prediction,
  row-normalized; the remaining epochs train the same network with the correction, under the same
  learning-rate schedule. The paper retrains a fresh network for a second full budget; continuing the
  first keeps the cost equal to the other methods' (a deliberate difference). Unlike the authors' code,
  the filter does not overwrite the predictions it reads (theirs zeroes them in place, so later rows of
  T see the zeros).

Nothing random. Composes with mixup, cutmix, dropout, input noise and PGD-AT (Σ weight · corrected loss of
each label set); not with label smoothing.
Example: ``parse_method("forward:estimate")``, ``parse_method("forward:noise/T.npy")``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from robustness.data import as_pixels
from robustness.errors import SuiteError, one_line
from robustness.methods.base import Batch, Method, Trainee, weighted_loss
from robustness.methods.registry import register_method

ANCHOR_PERCENTILE = 97  # the paper's outlier filter for the anchor points
ROW_TOLERANCE = 1e-3
PREDICT_BATCH = 256


def corrected_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, log_t: torch.Tensor) -> torch.Tensor:
    """Mean −log (pᵀT)_y, as logsumexp_i (log p_i + log T[i, y]) (log_t = log T, −inf where T is 0)."""
    log_p = F.log_softmax(logits, dim=1)
    log_noisy = torch.logsumexp(log_p[:, :, None] + log_t[None].to(log_p.dtype), dim=1)
    return F.nll_loss(log_noisy, labels)


def load_matrix(path: str) -> np.ndarray:
    """A C×C row-stochastic transition matrix from a .npy file, or a one-line SuiteError."""
    file = Path(path)
    if not file.is_file():
        raise SuiteError(f"forward: no transition-matrix file {path!r}; give a .npy file of a C×C matrix, "
                         "or write forward:estimate")
    try:
        matrix = np.load(file, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise SuiteError(f"forward: {path} is not a .npy array ({one_line(err, 120)}); "
                         "save T with numpy.save") from None
    square = matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1] >= 2
    if not square or not np.issubdtype(matrix.dtype, np.number):
        raise SuiteError(f"forward: {path} holds a {matrix.dtype} array of shape {matrix.shape}; "
                         "T must be a C×C float matrix")
    matrix = matrix.astype(np.float64)
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise SuiteError(f"forward: {path} has negative or non-finite entries; T[i, j] = P(noisy j | true i) ≥ 0")
    worst = np.abs(matrix.sum(1) - 1).max()
    if worst > ROW_TOLERANCE:
        raise SuiteError(f"forward: the rows of {path} must sum to 1 (one is off by {worst:.3g}); "
                         "T[i] is P(noisy label | true class i)")
    return matrix / matrix.sum(1, keepdims=True)


def estimate_matrix(probabilities: np.ndarray, percentile: float = ANCHOR_PERCENTILE) -> np.ndarray:
    """T from N×C predicted probabilities: row i is the prediction of class i's anchor (largest p_i below the
    column's ``percentile``-th percentile), row-normalized."""
    classes = probabilities.shape[1]
    rows = []
    for i in range(classes):
        column = probabilities[:, i].copy()
        column[column >= np.percentile(column, percentile, method="higher")] = 0.0
        rows.append(probabilities[int(np.argmax(column))])
    matrix = np.stack(rows).astype(np.float64)
    return matrix / matrix.sum(1, keepdims=True)


@torch.no_grad()
def train_probabilities(trainee: Trainee) -> np.ndarray:
    """softmax of the model on every training image (eval mode, no augmentation), N×C."""
    model, images = trainee.model, trainee.train_images
    was_training = model.training
    model.eval()
    chunks = [F.softmax(model(as_pixels(images[i : i + PREDICT_BATCH])).float(), dim=1)
              for i in range(0, len(images), PREDICT_BATCH)]
    model.train(was_training)
    return torch.cat(chunks).cpu().double().numpy()


@register_method("forward")
class ForwardCorrection(Method):
    title = "forward correction"
    defaults = {"T": "estimate", "split": 0.5}
    text_param = "T"

    def check(self) -> None:
        if not 0.0 < self.options["split"] < 1.0:
            raise SuiteError(f"forward option split must be in (0, 1) (the share of epochs before T is estimated), "
                             f"not {self.options['split']:g}")
        self.matrix = None if self.estimating else load_matrix(self.options["T"])

    @property
    def estimating(self) -> bool:
        return self.options["T"] == "estimate"

    def estimate_epoch(self, epochs: int) -> int:
        """The epoch after which T is estimated (the correction trains from the next one)."""
        return min(max(1, round(self.options["split"] * epochs)), max(1, epochs - 1))

    def end_epoch(self, trainee: Trainee) -> None:
        if self.estimating and trainee.epoch == self.estimate_epoch(trainee.epochs):
            trainee.cache["forward_T"] = estimate_matrix(train_probabilities(trainee))

    def trainee_loss(self, logits: torch.Tensor, batch: Batch, trainee: Trainee) -> torch.Tensor | None:
        matrix = self.matrix if self.matrix is not None else trainee.cache.get("forward_T")
        if matrix is None:  # estimating, before the estimate: plain cross-entropy
            return None
        if matrix.shape[0] != logits.shape[1]:
            raise SuiteError(f"forward: T is {matrix.shape[0]}×{matrix.shape[0]} but the data has {logits.shape[1]} "
                             "classes; give a matrix of that size")
        key = ("forward_log_T", logits.device)
        if key not in trainee.cache:
            with np.errstate(divide="ignore"):  # log 0 = −inf: a transition that cannot happen
                trainee.cache[key] = torch.as_tensor(np.log(matrix), dtype=torch.float32, device=logits.device)
        log_t = trainee.cache[key]
        return weighted_loss(lambda z, y: corrected_cross_entropy(z, y, log_t), logits, batch.targets)
