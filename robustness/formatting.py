"""Numbers as the report and the command line print them (errors are fractions in results.json)."""

from __future__ import annotations


def pct(value: float | None) -> str:
    """'12.3' (percent) from a fraction; '–' for a number that does not exist."""
    return "–" if value is None else f"{100 * value:.1f}"


def pm(stat: dict | None, unit: str = "seed", suffix: str = "") -> str:
    """'12.3 ± 0.4' (percent) from {"mean", "std"}; '12.3 (1 seed)' when one value made it (its "n" or
    "count" is 1), since a spread of 0.0 over one seed says nothing; '12.3 (2 seeds, equal)' when every value was
    the same (two seeds with 173 of 540 wrong each: "± 0.0" would read as a number with no variance).
    ``suffix`` follows the numbers ("%")."""
    if stat is None:
        return "–"
    n = stat.get("n", stat.get("count"))
    if n == 1:
        return f"{100 * stat['mean']:.1f}{suffix} (1 {unit})"
    if n and stat["std"] == 0:
        return f"{100 * stat['mean']:.1f}{suffix} ({n} {unit}s, equal)"
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
# Attack names whose meaning changed with a results.json schema version: in a file older than that version, what each
# name stood for, by today's name. Before 7, "autoattack" was torchattacks' 10-iteration ensemble, "autoattack-fast" since.
RENAMED_ATTACKS = {7: {"autoattack": "autoattack-fast"}}


def former_attack_names(schema_version: int) -> dict[str, str]:
    """Old name -> today's name of the attacks a results.json of ``schema_version`` names otherwise (robustness/results.py
    renames them on reading; a run's units keep the old names)."""
    return {old: new for since, names in RENAMED_ATTACKS.items() if schema_version < since for old, new in names.items()}


def attack_name(name: str) -> str:
    """An attack as people write it: 'I-FGSM', 'AutoAttack'; 'torchattacks:TIFGSM,steps=20' -> 'TIFGSM(steps=20)'."""
    if name.startswith("torchattacks:"):
        cls, _, args = name.removeprefix("torchattacks:").partition(",")
        return f"{cls}({args})" if args else cls
    return ATTACK_NAMES.get(name, name.upper())


def threat_model_label(threat_model: str) -> str:
    """'L∞' or 'L2' (results.json says "Linf" or "L2", RobustBench's names)."""
    return THREAT_MODELS.get(threat_model, threat_model)


# --- comparisons (robustness/statistics.py's records, as results.json's ``statistics`` keeps them) ---------------


def signed(points: float) -> str:
    """A difference in points with its sign: '+3.0', '−1.9' (a true minus), '0.0'."""
    text = f"{abs(points):.1f}"
    return text if text == "0.0" else ("+" if points > 0 else "−") + text


def interval_words(interval: list[float] | None) -> str:
    """'[−3.6, +9.0]' (points), or 'no interval' (one seed of seed-level numbers)."""
    return "no interval" if interval is None else f"[{signed(interval[0])}, {signed(interval[1])}]"


def p_words(p: float | None) -> str:
    """'p = 0.041', 'p < 0.001', or 'no test'."""
    if p is None:
        return "no test"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}" if p < 0.1 else f"p = {p:.2f}"


def count_words(count: int) -> str:
    return f"{count:,}"


def settle_words(c: dict) -> str:
    """What would settle an open comparison: 'about 62 seeds per family (or 3,100 images) would settle a gap of
    this size', or why no number can be given."""
    if c["difference"] == 0:
        return "there is no gap on these images to settle"
    seeds, images = c["seeds_needed"], c["images_needed"]
    unit = "seeds per method" if c["kind"] == "noise" else "seeds per family"
    if seeds and images:
        return f"about {count_words(seeds)} {unit} (or {count_words(images)} images) would settle a gap of this size"
    if seeds:
        return f"about {count_words(seeds)} {unit} would settle a gap of this size"
    if images:
        return f"about {count_words(images)} images would settle a gap of this size"
    if c["interval"] is None or c["resampled"] == "images only":
        return "one seed per side leaves the seed-to-seed spread unmeasured: run more seeds to know how many would settle it"
    return "neither more seeds nor more images alone would settle a gap this small: both must grow"


def verdict_words(c: dict, better: str = "more robust", worse: str = "less robust") -> str:
    """The verdict in words: ``better`` / ``worse`` when settled, else 'not settled by this run; <what would>'."""
    if c["verdict"] == "more robust":
        return better
    if c["verdict"] == "less robust":
        return worse
    return f"not settled by this run; {settle_words(c)}"


def evidence(c: dict) -> str:
    """'+3.0 points [−3.6, +9.0], p = 0.041': the difference with its 95% interval and p."""
    return f"{signed(c['difference'])} points {interval_words(c['interval'])}, {p_words(c['p_value'])}"


def compared(c: dict, better: str = "more robust", worse: str = "less robust") -> str:
    """'+3.0 points [−3.6, +9.0], p = 0.041: not settled by this run; about 62 seeds per family would settle …'."""
    return f"{evidence(c)}: {verdict_words(c, better, worse)}"
