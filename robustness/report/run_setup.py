"""The report's opening: the run's title, what was trained and evaluated on what, and the caveat on the paper."""

from __future__ import annotations

from robustness.threads import describe

VERSIONS = ("python", "torch", "torchvision", "torchattacks", "numpy", "scikit-learn")  # stated in the report


def training_setup(cfg: dict, env: dict) -> str:
    """'crop (pad 4) + flip, bf16 autocast, channels_last': how the models were trained, in words."""
    train, data = cfg["train"], cfg["data"]
    cuda = env["device"].startswith("cuda")
    pad = f"{train['crop_padding']}{', reflected' if train.get('crop_padding_mode') == 'reflect' else ''}"
    parts = [f"crop (pad {pad}) + flip" if train.get("augment") else "no augmentation"]
    precision = train.get("precision", "auto")
    parts.append("bf16 autocast" if precision == "bf16" or (precision == "auto" and cuda) else "fp32")
    if train.get("channels_last", "auto") != "off":
        parts.append("channels_last")
    if train.get("compile"):
        parts.append("torch.compile")
    subsets = [f"{k.split('_')[0]} subset {data[k]}" for k in ("train_subset", "test_subset") if data.get(k)]
    return ", ".join(parts + subsets)


def units_note(timing: dict) -> str:
    """Says when stage times cover only part of the work (a resumed run reuses finished units)."""
    units = timing.get("units")
    if not units or not units["reused"]:
        return ""
    return f" (this invocation computed {units['computed']} units of work and reused {units['reused']} finished earlier)"


def setup_blocks(results: dict) -> list:
    """Two paragraphs under "Setup": data, models, device, library versions and stage times; the paper caveat.
    (The report's title leads its first section, the verdict: robustness/report/verdict.py.)"""
    cfg, data, env = results["config"], results["data"], results["environment"]
    wall = results["timing"]["stages_s"]
    replication = (
        "This preset follows the paper's CIFAR-10 recipe (PreAct ResNet-18, 200 epochs, its schedule); the "
        "paper's adversarial numbers come from ImageNet with ResNet-101, so compare directions and ratios there."
        if cfg["preset"] == "paper" else
        "This is not a replication of the paper: the paper's numbers come from CIFAR-10 (PreAct ResNet-18, "
        "200 epochs) and ImageNet (ResNet-101). Compare directions and ratios, not absolute errors."
    )
    return [
        ("h2", "Setup"),
        ("p", f"Preset **{cfg['preset']}** on **{data['name']}** ({data['n_train']} training, {data['n_test']} test images, "
              f"{'×'.join(map(str, data['input_shape']))}, {len(data['classes'])} classes), {what_ran(results)}, "
              f"device **{env['device']}** ({env['device_name']}{threads_note(env)}), "
              + ", ".join(f"{lib} {env[lib]}" for lib in VERSIONS if lib in env) + ". Stage wall times (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in wall.items()) + units_note(results["timing"]) + "."),
        ("p", replication + " Every number below is in `results.json` beside this file."),
    ]


def what_ran(results: dict) -> str:
    """The header's account of the models: what was trained (epochs, seeds) and which checkpoints were evaluated,
    only what this run did (a --no-train run names no epochs or seeds of models it did not train)."""
    cfg, env = results["config"], results["environment"]
    clean, noise = cfg["clean"].get("enabled", True), bool(results.get("noise"))
    epochs = ([f"{cfg['train']['epochs']} epochs clean"] if clean else []) + (
        [f"{cfg['noise']['epochs']} epochs under label noise{noise_subset(cfg['noise'])}"] if noise else [])
    split = f"data split: {cfg['data']['split_seed']}"
    seeds = (f"seeds {cfg['clean']['seeds']} (label noise: {cfg['noise']['seeds']}, {split})" if clean and noise
             else f"seeds {cfg['clean']['seeds']} ({split})" if clean else f"label-noise seeds {cfg['noise']['seeds']} ({split})")
    parts = [f"model **{cfg['train']['arch']}**, {', '.join(epochs)} ({training_setup(cfg, env)}), {seeds}"] if epochs else []
    custom = [f"{name} ({rec['display']})" for name, rec in results["models"].items() if rec.get("method") == "custom"]
    if custom:
        parts.append(f"{len(custom)} given model{'s' * (len(custom) > 1)} evaluated: {', '.join(custom)}")
    return "; ".join(parts if epochs else ["no model trained"] + parts)


def threads_note(env: dict) -> str:
    """'; 2 threads (2 CPUs in this process's affinity mask)', or nothing: the results check lets a schema-4 file
    written before the thread record existed through (environment.threads is optional there)."""
    return f"; {describe(env['threads'])}" if "threads" in env else ""


def noise_subset(noise_cfg: dict) -> str:
    """' on a 5000-image training subset' when the label-noise runs train on fewer images than the clean models."""
    size = noise_cfg["train_subset"]
    return f" on a {size}-image training subset" if size else ""
