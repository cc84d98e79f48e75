"""Same configuration and seed on the CPU: byte-identical results.json apart from the timing fields."""

import json

import torch
from conftest import single_thread

from robustness.results import without_timing
from robustness.suite import run_suite
from robustness.validation import load_config


def timing_paths(node, path=""):
    """Where results.json holds timing fields (the keys without_timing drops)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "timing" or key.endswith("_seconds"):
                yield f"{path}/{key}"
            else:
                yield from timing_paths(value, f"{path}/{key}")
    elif isinstance(node, list):
        for value in node:
            yield from timing_paths(value, f"{path}/[]")


def canonical(run_dir) -> bytes:
    results = json.loads((run_dir / "results.json").read_text())
    return json.dumps(without_timing(results), indent=1, ensure_ascii=False).encode()


def test_same_config_and_seed_give_byte_identical_results(tmp_path, monkeypatch, small_toml, small_run):
    monkeypatch.chdir(tmp_path)  # the same relative --out as the subprocess run, so config.out is equal too
    config = load_config(None, small_toml, {"out": "reports"})
    with single_thread():  # as the subprocess run (conftest.run_small)
        run_dir = run_suite(config, run_id="small", progress=False)
    assert json.loads((run_dir / "results.json").read_text())["timing"]["units"]["reused"] == 0  # from scratch
    assert canonical(run_dir) == canonical(small_run)
    for name in ("erm_s0", "mixup_a1_s0"):  # the weights too, bit for bit
        ours, theirs = (torch.load(d / "models" / f"{name}.pt", weights_only=True) for d in (run_dir, small_run))
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs) and ours.keys() == theirs.keys()
    # The timing fields are exactly the ones docs/results.md lists, so nothing else may differ.
    paths = set(timing_paths(json.loads((run_dir / "results.json").read_text())))
    assert paths == {"/timing", "/models/erm_s0/train_seconds", "/models/mixup_a1_s0/train_seconds",
                     "/noise/runs/[]/train_seconds"}
