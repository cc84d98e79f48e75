"""Methods side by side: one row per method family (the report's table) or per model (the leaderboard's),
each a pure function of results.json.

Columns: clean error; white-box FGSM and PGD error at the headline ε; the mean transfer error into the
method's models from every other family and from its own (other seeds); the last-epoch test error at 50%
label noise and the share of the corrupted labels the method fitted; the input-gradient norm halfway
between test points (the paper's Figure 2). A column the run did not measure is None.
"""

from __future__ import annotations

from statistics import mean

NOISE_LEVEL = 0.5  # the label-noise column: the run's noise model at this rate

COLUMNS = (  # key, header; errors and shares are fractions (printed as %), the gradient norm as is
    ("clean_error", "clean error (%)"),
    ("fgsm", "white-box FGSM (%)"),
    ("pgd", "white-box PGD (%)"),
    ("transfer_from_others", "transfer in from other families (%)"),
    ("transfer_from_own", "transfer in from its own family (%)"),
    ("noise_last_test_error", "test error at 50% noise, last epoch (%)"),
    ("noise_fitted", "corrupted labels fitted at 50% noise (%)"),
    ("grad_norm", "‖∇x loss‖ between points"),
)
PERCENT = {key for key, _ in COLUMNS} - {"grad_norm"}


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return mean(values) if values else None


def transfer_attack(results: dict) -> str | None:
    """The attack the transfer columns use: PGD when it ran (the strongest), else the last one listed."""
    attacks = results["config"]["attack"]["attacks"] if results.get("attacks") else []
    return "pgd" if "pgd" in attacks else (attacks[-1] if attacks else None)


def _cells(results: dict) -> dict:
    eps = results["attacks"]["heatmap_eps"]
    return {(c["attack"], c["source"], c["target"]): c["error"] for c in results["attacks"]["cells"] if c["eps"] == eps}


def _mid(section: dict) -> int:
    return min(range(len(section["lambdas"])), key=lambda k: abs(section["lambdas"][k] - 0.5))


def noise_row(results: dict, family: str, method: str) -> dict | None:
    """The 50%-noise summary row for a family: the same method spec if the noise grid ran it, else the
    family's best of grid there."""
    noise = results.get("noise")
    if not noise:
        return None
    rows = [r for r in noise["summary"] if r["level"] == NOISE_LEVEL and r["spec"].startswith(noise["noise_model"] + ":")]
    same = [r for r in rows if r["method"] == method]
    if same:
        return same[0]
    picks = {p["method"] for p in noise["best_of_grid"] if p["family"] == family and p["level"] == NOISE_LEVEL}
    return next((r for r in rows if r["method"] in picks), None)


def model_row(results: dict, name: str) -> dict:
    """Every column for one model; the noise columns are its family's."""
    record = results["models"][name]
    row = {"model": name, "family": record["family"], "display": record["display"], "method": record["method"],
           "clean_error": record["clean_error"]}
    if results.get("attacks"):
        cells, attack = _cells(results), transfer_attack(results)
        families = {n: r["family"] for n, r in results["models"].items()}
        row["fgsm"] = cells.get(("fgsm", name, name))
        row["pgd"] = cells.get(("pgd", name, name))
        into = [(source, error) for (a, source, target), error in cells.items() if a == attack and target == name and source != name]
        row["transfer_from_others"] = _mean([e for s, e in into if families[s] != record["family"]])
        row["transfer_from_own"] = _mean([e for s, e in into if families[s] == record["family"]])
    section = results.get("between_points")
    if section and section["pairs"] and name in section["models"]:
        row["grad_norm"] = section["models"][name]["grad_norm_mean"][_mid(section)]
    noise = noise_row(results, record["family"], record["method"])
    if noise:
        row["noise_last_test_error"] = noise["last_test_error"]["mean"]
        corrupted = noise["last_train_error_corrupted"]
        row["noise_fitted"] = None if corrupted is None else 1 - corrupted["mean"]
    return {key: row.get(key) for key in ("model", "family", "display", "method")} | {k: row.get(k) for k, _ in COLUMNS}


def group(row: dict) -> tuple[str, str | None]:
    """A trained model's row joins its family's; a given checkpoint's joins only those of its family saved in the same
    format ("custom (export)" and "custom (torchscript)" are two rows, not one lumped under the first's name)."""
    return row["family"], row["display"] if row["method"] == "custom" else None


def family_rows(results: dict) -> list[dict]:
    """One row per family, in the order models appear: the mean over its models (seeds) of each column."""
    rows = [model_row(results, name) for name in results["models"]]
    out = []
    for family, display in dict.fromkeys(group(r) for r in rows):
        members = [r for r in rows if group(r) == (family, display)]
        out.append({"family": family, "display": members[0]["display"], "method": members[0]["method"],
                    "models": len(members)} | {key: _mean([m[key] for m in members]) for key, _ in COLUMNS})
    return out
