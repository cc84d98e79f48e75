"""Figures, each a pure function of results.json: ``(results, path) -> path``."""

from __future__ import annotations

import functools
import io
import zlib
from pathlib import Path

import matplotlib
import matplotlib.colors
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from robustness.formatting import attack_name, threat_model_label  # noqa: E402
from robustness.results import write_atomic  # noqa: E402

# One colour per family in every figure (and in the leaderboard): the built-in methods' fixed ones, any other
# family (an ablation variant, your own method) one of the rest chosen from its name, so it never changes.
FAMILY_COLOURS = {
    "erm": "tab:blue", "mixup": "tab:orange", "dropout": "tab:green", "mixup+dropout": "tab:red",
    "manifold_mixup": "tab:purple", "cutmix": "tab:brown", "label_smoothing": "tab:pink",
    "gaussian_noise": "tab:olive", "pgd_at": "tab:cyan", "custom": "tab:gray",
}
OTHER_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
                 "#8c564b", "#17becf", "#bcbd22", "#393b79"]
SEED_STYLES = ["-", "--", ":", "-."]


def literal_text(draw):
    """Draw a figure with matplotlib's mathtext off, so every label shows its text as written.

    Model, method, attack and noise names come from the user (``--model 'm$\\badcmd$=...'``); with mathtext on, a
    name holding two '$' is parsed as TeX and an unknown command ends the drawing in ParseFatalException, after the
    attacks ran. No figure here uses math, so nothing is lost; each Text keeps the setting it was created with.
    """
    @functools.wraps(draw)
    def drawn(*args, **kwargs):
        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)
    return drawn


def family_colour(family: str) -> str:
    """The family's colour, the same in every figure of every run."""
    return FAMILY_COLOURS.get(family) or OTHER_COLOURS[zlib.crc32(family.encode()) % len(OTHER_COLOURS)]


def slug(name: str) -> str:
    """A file-name-safe form of an attack spec: 'torchattacks:MIFGSM,steps=20' -> 'torchattacks-MIFGSM-steps-20'."""
    return "".join(ch if ch.isalnum() or ch in "_." else "-" for ch in name)


def eps_axis(results: dict) -> str:
    return "ε (pixels in [0, 1])" if results["attacks"]["threat_model"] == "Linf" else "ε (L2 radius, pixels in [0, 1])"


def _save(fig, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path


@literal_text
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
            colour = family_colour(rec["family"])
            ax.plot(eps, 100 * err, SEED_STYLES[k % len(SEED_STYLES)], marker="o", ms=3, color=colour, label=name)
            ax.fill_between(eps, 100 * low, 100 * high, color=colour, alpha=0.12, linewidth=0)  # 95% Wilson
        ax.set(title=f"white box ({threat_model_label(results['attacks']['threat_model'])}): {attack_name(attack)}",
               xlabel=eps_axis(results), ylim=(0, 100))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test error (%)")
    axes[0][-1].legend(fontsize=8)
    return _save(fig, path)


@literal_text
def worst_case_curves(results: dict, path: Path) -> Path:
    """How much FGSM overstates robustness: one panel per model, error against ε under FGSM (dashed), PGD
    (dotted) and the worst case over every attack run at every ε (solid), the gap between FGSM and the worst
    case shaded, in the model's family colour; a marker with its 95% interval at the headline ε where the
    headline attacks (AutoAttack, Square) ran on their image subset."""
    section = results["attacks"]["worst_case"]
    whitebox = [c for c in results["attacks"]["cells"] if c["source"] == c["target"]]
    names = list(results["models"])
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False, sharex=True, sharey=True)
    head = section["headline"]
    for k, name in enumerate(names):
        ax, colour = axes[k // cols][k % cols], family_colour(results["models"][name]["family"])
        worst = sorted((r["eps"], 100 * r["error"]) for r in section["sweep"] if r["target"] == name and r["kind"] == "all")
        eps, err = (np.array(v) for v in zip(*worst))
        ax.plot(eps, err, "-", marker="o", ms=3, color=colour)
        for attack, style in (("fgsm", "--"), ("pgd", ":")):
            pts = sorted((c["eps"], 100 * c["error"]) for c in whitebox if c["attack"] == attack and c["target"] == name)
            if pts:
                e, v = (np.array(p) for p in zip(*pts))
                ax.plot(e, v, style, color=colour)
                if attack == "fgsm" and np.array_equal(e, eps):
                    ax.fill_between(eps, v, err, color=colour, alpha=0.18, linewidth=0)
        mine = {r["kind"]: r for r in head["cells"] if r["target"] == name}
        if head["headline_attacks"] and "all" in mine:
            low, high = mine["all"]["error_ci"]
            value = mine["all"]["error"]
            ax.errorbar([head["eps"]], [100 * value], yerr=[[100 * (value - low)], [100 * (high - value)]], fmt="D", ms=5,
                        color="black", capsize=3)
            if "fgsm" in mine:  # the same images under FGSM: the paired gap, whatever the subset's difficulty
                ax.plot([head["eps"]], [100 * mine["fgsm"]["error"]], "D", ms=5, mfc="white", mec="black")
        ax.set(title=name, ylim=(0, 100))
        ax.grid(alpha=0.3)
    legend = [Line2D([], [], color="grey", marker="o", ms=3, label="worst case, all attacks"),
              Line2D([], [], color="grey", ls="--", label="FGSM"), Line2D([], [], color="grey", ls=":", label="PGD"),
              Patch(color="grey", alpha=0.25, label="what FGSM misses")]
    if head["headline_attacks"]:
        legend += [Line2D([], [], color="black", marker="D", ms=5, ls="",
                          label=f"+ {', '.join(attack_name(a) for a in head['headline_attacks'])} ({head['n']} images)"),
                   Line2D([], [], marker="D", ms=5, ls="", mfc="white", mec="black", label=f"FGSM on those {head['n']} images")]
    fig.legend(handles=legend, loc="lower center", ncol=len(legend), fontsize=8, bbox_to_anchor=(0.5, -0.02 - 0.06 / rows),
               frameon=False)
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel(eps_axis(results))
    for row in axes:
        row[0].set_ylabel("test error (%)")
    fig.suptitle(f"FGSM vs the worst case over attacks ({threat_model_label(results['attacks']['threat_model'])})", y=1.02)
    fig.tight_layout()
    return _save(fig, path)


@literal_text
def between_points(results: dict, path: Path) -> Path:
    """The paper's Figure 2 on test pairs: miss share and input-gradient norm along λ, per family (mean over seeds,
    a ± std band where a family has more than one)."""
    section = results["between_points"]
    lambdas = np.array(section["lambdas"])
    panels = (("miss", "prediction ∉ {y_i, y_j} (%)", 100), ("grad_norm_mean", "‖∇x loss‖₂", 1))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (key, label, scale) in zip(axes, panels):
        for family, stats in section["summary"].items():
            m, sd = scale * np.array(stats[key]["mean"]), scale * np.array(stats[key]["std"])
            seeds = f"{stats['models']} seed{'s' * (stats['models'] != 1)}"
            ax.plot(lambdas, m, marker="o", ms=3, color=family_colour(family), label=f"{family} ({seeds})")
            if stats["models"] > 1:  # one seed has no spread to draw
                ax.fill_between(lambdas, m - sd, m + sd, color=family_colour(family), alpha=0.2, linewidth=0)
        ax.set(xlabel="λ in x = λ·x_i + (1−λ)·x_j", ylabel=label)
        ax.grid(alpha=0.3)
    axes[0].set_title(f"between {section['pairs']} random test pairs")
    axes[1].legend(fontsize=8)
    return _save(fig, path)


@literal_text
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
           title=f"{attack_name(attack)} ({threat_model_label(results['attacks']['threat_model'])}) at ε={eps:g}: error (%)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)


def noise_label(spec: str, level: float | None, model: str) -> str:
    """'50% replaced' for the main noise model's levels, else the spec itself."""
    return f"{100 * level:g}% replaced" if level is not None and spec.startswith(model + ":") else spec


def _noise_specs(noise: dict) -> list[tuple[str, str]]:
    """(spec, title) for every noise spec of the run, in run order."""
    levels = {r["spec"]: r["level"] for r in noise["summary"]}
    return [(spec, noise_label(spec, levels[spec], noise["noise_model"])) for spec in dict.fromkeys(levels)]


@literal_text
def noise_best_last(results: dict, path: Path) -> Path:
    """Best and last test error per method and noise spec, the mean over seeds with ± std bars where there are
    several (the whole grid); one seed draws its number alone."""
    summary = results["noise"]["summary"]
    specs = _noise_specs(results["noise"])
    methods = list(dict.fromkeys(r["method"] for r in summary))
    fig, axes = plt.subplots(2, 1, figsize=(max(7.0, 1.1 * len(specs) * (1 + 0.25 * len(methods))), 7), sharey=True)
    width = 0.8 / len(methods)
    for ax, column, title in zip(axes, ("best_test_error", "last_test_error"), ("best test error", "last-epoch test error")):
        for k, method in enumerate(methods):
            rows = {r["spec"]: r for r in summary if r["method"] == method}
            x = [i + k * width for i, (spec, _) in enumerate(specs) if spec in rows]
            picked = [rows[spec] for spec, _ in specs if spec in rows]
            first = picked[0]
            spread = [100 * r[column]["std"] if len(r["seeds"]) > 1 else 0.0 for r in picked]  # no bar on one seed
            ax.bar(x, [100 * r[column]["mean"] for r in picked], width, yerr=spread if any(spread) else None,
                   capsize=2, label=first["display"], color=method_colour(first, k, len(methods)))
        ax.set_xticks(np.arange(len(specs)) + 0.4 - width / 2, [title for _, title in specs])
        ax.set(title=title + seed_words(summary), ylabel="test error (%)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7, ncol=min(4, len(methods)), loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def seed_words(summary: list[dict]) -> str:
    """' (mean ± std over seeds)', or ' (one seed: no spread)' when every row is one seed's number."""
    return " (one seed: no spread)" if all(len(r["seeds"]) == 1 for r in summary) else " (mean ± std over seeds)"


def method_colour(row: dict, index: int, count: int):
    """The family's hue, lighter for earlier grid entries, so a family's grid reads as one group."""
    base = family_colour(row["family"])
    shade = 0.45 + 0.55 * (index + 1) / count
    return matplotlib.colors.to_rgba(base, alpha=shade)


def _curve(runs: list[dict], key: str) -> np.ndarray:
    """Seeds × epochs of one history column, NaN where undefined (e.g. no corrupted example)."""
    return np.array([[np.nan if h.get(key) is None else h[key] for h in r["history"]] for r in runs], dtype=float)


@literal_text
def noise_curves(results: dict, path: Path) -> Path:
    """The whole grid per epoch: test error and training error on the corrupted labels (mean over seeds)."""
    runs = results["noise"]["runs"]
    specs = _noise_specs(results["noise"])
    methods = list(dict.fromkeys(r["method"] for r in runs))
    rows = (("test_error", "test error (%)"), ("train_error_corrupted", "train error on\ncorrupted labels (%)"))
    fig, axes = plt.subplots(2, len(specs), figsize=(4.2 * len(specs), 6), squeeze=False, sharex=True, sharey="row")
    for col, (spec, title) in enumerate(specs):
        for k, method in enumerate(methods):
            group = [r for r in runs if r["spec"] == spec and r["method"] == method]
            if not group:
                continue
            for row, (key, label) in enumerate(rows):
                curve = _curve(group, key)
                if np.isnan(curve).all():  # e.g. no corrupted example at 0% noise
                    continue
                axes[row][col].plot(np.arange(1, curve.shape[1] + 1), 100 * np.nanmean(curve, 0),
                                    color=method_colour(group[0], k, len(methods)), label=group[0]["display"])
                axes[row][col].set_ylabel(label if col == 0 else None)
                axes[row][col].grid(alpha=0.3)
        axes[0][col].set_title(title)
        axes[1][col].set_xlabel("epoch")
    axes[0][-1].legend(fontsize=7)
    return _save(fig, path)


MEMORIZATION_ROWS = (
    ("train_error_corrupted", "train error on corrupted\nexamples, vs their noisy label (%)"),
    ("train_error_uncorrupted", "train error on clean\nexamples (%)"),
    ("test_error", "test error (%)"),
)


@literal_text
def memorization_curves(results: dict, path: Path) -> Path:
    """Memorization curves (Arpit et al. 2017; Zhang et al. 2018): the best method of each family per
    noise spec, one column per spec; mean over seeds with a ±std band.

    A corrupted-label error falling towards 0 means the model is memorizing the noise; the clean
    subset and the test error show what that costs.
    """
    noise = results["noise"]
    specs = _noise_specs(noise)
    picks = noise["best_of_grid"]
    fig, axes = plt.subplots(len(MEMORIZATION_ROWS), len(specs), figsize=(4.2 * len(specs), 8.5), squeeze=False,
                             sharex=True, sharey="row")
    for col, (spec, title) in enumerate(specs):
        for pick in (p for p in picks if p["spec"] == spec):
            group = [r for r in noise["runs"] if r["spec"] == spec and r["method"] == pick["method"]]
            colour = family_colour(pick["family"])
            for row, (key, label) in enumerate(MEMORIZATION_ROWS):
                curve = 100 * _curve(group, key)
                epochs = np.arange(1, curve.shape[1] + 1)
                ax = axes[row][col]
                ax.set_ylabel(label if col == 0 else None)
                ax.grid(alpha=0.3)
                if np.isnan(curve).all():  # e.g. no corrupted example at 0% noise
                    continue
                ax.plot(epochs, np.nanmean(curve, 0), color=colour, label=pick["display"])
                if len(group) > 1:
                    ax.fill_between(epochs, np.nanmin(curve, 0), np.nanmax(curve, 0), color=colour, alpha=0.15)
        axes[0][col].set_title(title)
        axes[-1][col].legend(fontsize=7)  # the test-error row always has curves
        axes[-1][col].set_xlabel("epoch")
    return _save(fig, path)


@literal_text
def noise_confusion(results: dict, path: Path) -> Path:
    """The realized transition between true and noisy labels (row-normalized, first seed), one panel per spec."""
    noise = results["noise"]
    specs = _noise_specs(noise)
    fig, axes = plt.subplots(1, len(specs), figsize=(3.3 * len(specs), 3.2), squeeze=False)
    for ax, (spec, title) in zip(axes[0], specs):
        counts = np.array(next(c for c in noise["corruptions"] if c["spec"] == spec)["confusion"], dtype=float)
        share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
        image = ax.imshow(100 * share, cmap="viridis", vmin=0, vmax=100)
        ax.set(title=title, xlabel="noisy label", ylabel="true label")
    fig.colorbar(image, ax=list(axes[0]), fraction=0.02, label="% of the true class")
    return _save(fig, path)


def noise_under_attack(results: dict, path: Path) -> Path:
    """White-box error under each of ``noise.attack``'s attacks against the noise spec, one line per method (mean
    over seeds, bars: ± std where there are several seeds), clean last-epoch test error in the first panel: does training on noisy labels
    change robustness, and does a method's advantage there survive the attack?"""
    noise = results["noise"]
    specs = _noise_specs(noise)
    attacks, eps = noise["attack"]["attacks"], noise["attack"]["eps"]
    methods = list(dict.fromkeys(r["method"] for r in noise["summary"]))
    panels = [("last_test_error", "clean (last epoch)")] + [(a, f"{a.upper()} at ε = {eps:g}") for a in attacks]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False, sharey=True)
    x = np.arange(len(specs))
    for ax, (key, title) in zip(axes[0], panels):
        for k, method in enumerate(methods):
            rows = {r["spec"]: r for r in noise["summary"] if r["method"] == method}
            stats = [(rows[s][key] if key == "last_test_error" else rows[s]["under_attack"][key]) if s in rows else None
                     for s, _ in specs]
            mean = [np.nan if v is None else 100 * v["mean"] for v in stats]
            first = next(iter(rows.values()))
            several = len(first["seeds"]) > 1  # one seed: its number alone, no bar
            std = [np.nan if v is None else 100 * v["std"] for v in stats] if several else None
            ax.errorbar(x, mean, yerr=std, marker="o", capsize=2, label=first["display"],
                        color=method_colour(first, k, len(methods)))
        ax.set_xticks(x, [t for _, t in specs], rotation=20)
        ax.set(title=title, xlabel="training-label noise", ylabel="test error (%)" if key == "last_test_error" else None)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


VERDICT_COLOURS = {"more robust": "tab:green", "less robust": "tab:red", "not settled": "tab:gray"}


@literal_text
def verdict_forest(rows: list[dict], labels: list[str], baseline: str, title: str, path: Path) -> Path:
    """The report's first figure: each comparison's difference in error against ``baseline`` (points) with its
    95% interval, one line per row (``labels``, top to bottom), coloured by its verdict; 0 is "no difference"
    and left of it is a lower error, i.e. more robust. A row without an interval (one seed of seed-level
    numbers) is its point alone."""
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.34 * len(rows)))
    y = np.arange(len(rows))[::-1]
    for k, row in zip(y, rows):
        colour = VERDICT_COLOURS[row["verdict"]]
        if row["interval"] is not None:
            low, high = row["interval"]
            ax.plot([low, high], [k, k], color=colour, linewidth=2.2, solid_capstyle="butt")
        ax.plot([row["difference"]], [k], "o", color=colour, ms=6)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"error minus {baseline}'s error (points); left of 0: lower error, more robust")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=[Line2D([], [], color=c, marker="o", label=v) for v, c in VERDICT_COLOURS.items()],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return _save(fig, path)
