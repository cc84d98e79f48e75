"""Figures, each a pure function of results.json: ``(results, path) -> path``."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FAMILY_COLOURS = {"erm": "tab:blue", "mixup": "tab:orange"}
SEED_STYLES = ["-", "--", ":", "-."]


def family_colour(family: str, index: int = 0) -> str:
    return FAMILY_COLOURS.get(family, f"C{2 + index % 8}")


def _save(fig, path: Path) -> Path:
    from robustness.results import write_atomic
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path


def whitebox_curves(results: dict, path: Path) -> Path:
    """Error vs ε per model, one panel per attack, white box (each model attacks itself)."""
    cells = [c for c in results["attacks"]["cells"] if c["source"] == c["target"]]
    attacks = list(dict.fromkeys(c["attack"] for c in cells))
    fig, axes = plt.subplots(1, len(attacks), figsize=(5 * len(attacks), 3.8), squeeze=False, sharey=True)
    for ax, attack in zip(axes[0], attacks):
        for k, (name, rec) in enumerate(results["models"].items()):
            pts = sorted((c["eps"], c["error"], *(c.get("error_ci") or (c["error"], c["error"])))
                         for c in cells if c["attack"] == attack and c["source"] == name)
            eps, err, low, high = (np.array(v) for v in zip(*pts))
            colour = family_colour(rec["family"], k)
            ax.plot(eps, 100 * err, SEED_STYLES[k % len(SEED_STYLES)], marker="o", ms=3, color=colour, label=name)
            ax.fill_between(eps, 100 * low, 100 * high, color=colour, alpha=0.12, linewidth=0)  # 95% Wilson
        ax.set(title=f"white box: {attack.upper()}", xlabel="ε (pixels in [0, 1])", ylim=(0, 100))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test error (%)")
    axes[0][-1].legend(fontsize=8)
    return _save(fig, path)


def between_points(results: dict, path: Path) -> Path:
    """The paper's Figure 2 on test pairs: miss share and input-gradient norm along λ, per family (mean ± std over seeds)."""
    section = results["between_points"]
    lambdas = np.array(section["lambdas"])
    panels = (("miss", "prediction ∉ {y_i, y_j} (%)", 100), ("grad_norm_mean", "‖∇x loss‖₂", 1))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (key, label, scale) in zip(axes, panels):
        for k, (family, stats) in enumerate(section["summary"].items()):
            m, sd = scale * np.array(stats[key]["mean"]), scale * np.array(stats[key]["std"])
            ax.plot(lambdas, m, marker="o", ms=3, color=family_colour(family, k), label=f"{family} ({stats['models']} seeds)")
            ax.fill_between(lambdas, m - sd, m + sd, color=family_colour(family, k), alpha=0.2, linewidth=0)
        ax.set(xlabel="λ in x = λ·x_i + (1−λ)·x_j", ylabel=label)
        ax.grid(alpha=0.3)
    axes[0].set_title(f"between {section['pairs']} random test pairs")
    axes[1].legend(fontsize=8)
    return _save(fig, path)


def transfer_heatmap(results: dict, attack: str, eps: float, path: Path) -> Path:
    """Annotated source × target error matrix at one ε; the diagonal is white box."""
    names = list(results["models"])
    grid = np.zeros((len(names), len(names)))
    for c in results["attacks"]["cells"]:
        if c["attack"] == attack and c["eps"] == eps:
            grid[names.index(c["source"]), names.index(c["target"])] = 100 * c["error"]
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 1.1 * len(names) + 1.5))
    image = ax.imshow(grid, cmap="magma_r", vmin=0, vmax=100)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center",
                    color="white" if grid[i, j] > 55 else "black", fontweight="bold" if i == j else None)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="target (evaluated on)", ylabel="source (crafted on)",
           title=f"{attack.upper()} at ε={eps:g}: error (%)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)


def noise_best_last(results: dict, path: Path) -> Path:
    """Best and last test error per method and noise level, mean ± std over seeds."""
    summary = results["noise"]["summary"]
    levels = list(dict.fromkeys(r["level"] for r in summary))
    methods = list(dict.fromkeys(r["method"] for r in summary))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    width = 0.8 / len(methods)
    for ax, column, title in zip(axes, ("best_test_error", "last_test_error"), ("best test error", "last-epoch test error")):
        for k, method in enumerate(methods):
            rows = [next(r for r in summary if r["level"] == lv and r["method"] == method) for lv in levels]
            ax.bar(np.arange(len(levels)) + k * width, [100 * r[column]["mean"] for r in rows], width,
                   yerr=[100 * r[column]["std"] for r in rows], capsize=3, label=rows[0]["display"],
                   color=family_colour(rows[0]["family"], k), alpha=0.55 + 0.45 * (k + 1) / len(methods))
        ax.set_xticks(np.arange(len(levels)) + 0.4 - width / 2, [f"{100 * lv:g}% noise" for lv in levels])
        ax.set(title=title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("test error (%)")
    axes[1].legend(fontsize=8)
    return _save(fig, path)


def noise_curves(results: dict, path: Path) -> Path:
    """Per epoch: test error and training error on the corrupted labels, per method (mean over seeds)."""
    runs = results["noise"]["runs"]
    levels = list(dict.fromkeys(r["level"] for r in runs))
    methods = list(dict.fromkeys(r["method"] for r in runs))
    rows = (("test_error", "test error (%)"), ("train_error_corrupted", "train error on\ncorrupted labels (%)"))
    fig, axes = plt.subplots(2, len(levels), figsize=(4.2 * len(levels), 6), squeeze=False, sharex=True, sharey="row")
    for col, level in enumerate(levels):
        for k, method in enumerate(methods):
            group = [r for r in runs if r["level"] == level and r["method"] == method]
            for row, (key, label) in enumerate(rows):
                curve = np.array([[h.get(key) if h.get(key) is not None else np.nan for h in r["history"]] for r in group])
                axes[row][col].plot(np.arange(1, curve.shape[1] + 1), 100 * np.nanmean(curve, 0),
                                    color=family_colour(group[0]["family"], k), label=group[0]["display"],
                                    alpha=0.55 + 0.45 * (k + 1) / len(methods))
                axes[row][col].set_ylabel(label if col == 0 else None)
                axes[row][col].grid(alpha=0.3)
        axes[0][col].set_title(f"{100 * level:g}% of labels replaced")
        axes[1][col].set_xlabel("epoch")
    axes[0][-1].legend(fontsize=8)
    return _save(fig, path)
