"""Numbers as the report and the command line print them (errors are fractions in results.json)."""

from __future__ import annotations


def pct(value: float | None) -> str:
    """'12.3' (percent) from a fraction; '–' for a number that does not exist."""
    return "–" if value is None else f"{100 * value:.1f}"


def pm(stat: dict | None, unit: str = "seed", suffix: str = "") -> str:
    """'12.3 ± 0.4' (percent) from {"mean", "std"}; '12.3 (1 seed)' when one value made it (its "n" or
    "count" is 1), since a spread of 0.0 over one seed says nothing. ``suffix`` follows the numbers ("%")."""
    if stat is None:
        return "–"
    if stat.get("n", stat.get("count")) == 1:
        return f"{100 * stat['mean']:.1f}{suffix} (1 {unit})"
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}{suffix}"


def spread(mean: float, std: float, n: int, digits: str = ".3g") -> str:
    """'0.123 ± 0.01' for a mean over n > 1 values, the mean alone for one."""
    return f"{mean:{digits}}" if n == 1 else f"{mean:{digits}} ± {std:{digits}}"


def with_ci(value: float | None, ci: list[float] | None) -> str:
    """'12.3 [10.1–14.8]' (percent, 95% interval over test images)."""
    if value is None:
        return "–"
    return pct(value) if not ci else f"{pct(value)} [{pct(ci[0])}–{pct(ci[1])}]"


def eps_label(eps: float, threat_model: str) -> str:
    """ε in both units: '0.0314 (8.0/255)' for ``threat_model`` "Linf"; an L2 radius as it is: '0.5 (L2)'.
    No default: a caller that forgot the run's threat model printed '/255' radii for L2 runs."""
    return f"{eps:.3g} ({255 * eps:.1f}/255)" if threat_model == "Linf" else f"{eps:.3g} (L2)"


# attack -> its name as people write it ("ifgsm" -> "I-FGSM"): each attack class's ``title``, filled in when it is
# registered (attacks.registry.register_attack), so a new attack brings its own name (this layer cannot import attacks/).
ATTACK_NAMES: dict[str, str] = {}
THREAT_MODELS = {"Linf": "L∞", "L2": "L2"}


def attack_name(name: str) -> str:
    """An attack as people write it: 'I-FGSM', 'AutoAttack'; 'torchattacks:TIFGSM,steps=20' -> 'TIFGSM(steps=20)'."""
    if name.startswith("torchattacks:"):
        cls, _, args = name.removeprefix("torchattacks:").partition(",")
        return f"{cls}({args})" if args else cls
    return ATTACK_NAMES.get(name, name.upper())


def threat_model_label(threat_model: str) -> str:
    """'L∞' or 'L2' (results.json says "Linf" or "L2", RobustBench's names)."""
    return THREAT_MODELS.get(threat_model, threat_model)
