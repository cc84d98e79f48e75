"""What results.json says about each model and each label-noise run: one typed record per kind, one builder each.

``docs/results.md`` lists the same keys; ``tests/test_records.py`` holds the two against each other.
Builders take plain values, so every layer can call them without importing the one that trains.
"""

from __future__ import annotations

from typing import Any, TypedDict


class MethodFields(TypedDict):
    """How a model was trained, as every record states it (``robustness.methods.Method.fields()``)."""

    method: str  # the method as written, e.g. "mixup:1", "mixup:8+dropout:0.5"; "custom" for a checkpoint
    family: str  # what reports group and colour by: "erm", "mixup", "dropout", "mixup+dropout", "custom", ...
    display: str  # for people, e.g. "mixup (α=1)"
    params: dict[str, float]  # the method's settings by their own names, e.g. {"mixup_alpha": 1.0}; {} for ERM


class CheckpointSource(TypedDict):
    """Where a custom model came from (``--model NAME=SPEC``, the TOML key ``models``, ``robustness.evaluate``)."""

    spec: str | None  # as given; None for a model passed in memory
    format: str  # "export", "torchscript", "state_dict", "pickle" or "in-memory"
    path: str | None  # absolute path of the file
    sha256: str | None  # of the file
    arch: str | None  # registry architecture of a state_dict
    factory: str | None  # "package.module:function" of a state_dict
    trusted: bool | None  # whether --trust-checkpoint was on
    unwrapped: str | None  # where in a training checkpoint the model was found, e.g. "net.module"; None: the file itself
    normalization: Any  # "none", or {"from": "data" | "explicit" | "checkpoint", "mean": [...], "std": [...]}


class ProbeRecord(TypedDict):
    """What the probe found on a batch of test images before any attack (robustness/probe.py)."""

    batch: int
    output_shape: list[int]
    outputs: str  # "logits" or "probabilities"
    input_grad_norm: float
    random_in_eval: bool  # two eval-mode passes over the same images disagree (dropout left on); absent in older runs


class ModelRecord(MethodFields):
    """``results["models"][name]``: a trained model or a custom one; the same keys for both."""

    seed: int | None  # None for a custom model
    arch: str | None
    unit: str | None  # key of the train unit that made it (robustness/units.py); None for a custom model
    clean_error: float  # test error: after the last epoch, or (custom models) from the attack stage's clean pass
    history: list[dict]  # per epoch (docs/results.md); [] for a custom model
    train_seconds: float | None
    checkpoint: CheckpointSource | None  # None for a trained model
    probe: ProbeRecord | None  # None for a trained model


class NoiseRunRecord(MethodFields):
    """``results["noise"]["runs"][i]``: one model trained on corrupted labels."""

    spec: str  # the noise spec, e.g. "uniform:0.5"
    level: float | None  # its rate, None for matrix:/labels: files
    seed: int
    noise: dict  # the corruption's summary (noise.NoisyLabels.summary())
    best_test_error: float
    best_epoch: int
    last_test_error: float
    last_train_error_real: float
    last_train_error_corrupted: float | None
    last_train_error_clean: float | None
    history: list[dict]
    train_seconds: float
    under_attack: dict | None  # noise.attack: {"eps", "fgsm": record, "pgd": record} white box; None when off


def trained_model_record(method: MethodFields, seed: int, arch: str, unit: str, history: list[dict],
                         seconds: float) -> ModelRecord:
    """A model the suite trained: its clean error is the last epoch's test error."""
    return ModelRecord(**method, seed=seed, arch=arch, unit=unit, clean_error=history[-1]["test_error"],
                       history=history, train_seconds=seconds, checkpoint=None, probe=None)


def custom_model_record(family: str, source: CheckpointSource, probe: ProbeRecord, clean_error: float) -> ModelRecord:
    """A model the user brought; ``clean_error`` comes from the attack stage's clean pass."""
    method = MethodFields(method="custom", family=family, display=f"custom ({source['format']})", params={})
    return ModelRecord(**method, seed=None, arch=source["arch"], unit=None, clean_error=clean_error, history=[],
                       train_seconds=None, checkpoint=source, probe=probe)


def noise_run_record(spec: str, level: float | None, method: MethodFields, seed: int, noise: dict,
                     history: list[dict], seconds: float, under_attack: dict | None = None) -> NoiseRunRecord:
    """One label-noise run: Table 2's columns at the best and the last epoch, and the whole history."""
    best = min(history, key=lambda row: row["test_error"])
    last = history[-1]
    return NoiseRunRecord(
        spec=spec, level=level, **method, seed=seed, noise=noise,
        best_test_error=best["test_error"], best_epoch=best["epoch"], last_test_error=last["test_error"],
        last_train_error_real=last["train_error_real"], last_train_error_corrupted=last.get("train_error_corrupted"),
        last_train_error_clean=last.get("train_error_uncorrupted"), history=history, train_seconds=seconds,
        under_attack=under_attack,
    )
