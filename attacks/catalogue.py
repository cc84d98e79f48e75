"""What the attacks say about themselves, for people: the report's one line per attack, and the table of
every attack's own settings that ``run_all.py --help`` and docs/configuration.md print (both generated from
the classes, so a new attack's settings appear there without another edit).

    describe_attacks({"attacks": ["fgsm", "pgd"], "settings": {"pgd": {"steps": 40}}})
    # 'FGSM: one step of ε; PGD: 40 steps of 2.5·ε/40, random start, 1 restart(s).'
"""

from __future__ import annotations

import dataclasses

from attacks.base import setting_notes
from attacks.registry import ATTACKS
from robustness.config import AttackConfig
from robustness.errors import SuiteError
from robustness.formatting import attack_name

SETTINGS_HEADING = "### [attack.NAME]: each attack's own settings"


def describe_attacks(cfg: dict, attacks: list[str] | None = None) -> str:
    """The attacks ``attacks`` (default: ``cfg["attacks"]``) as configured, in words: ``cfg`` is results.json's
    ``config.attack``, whose ``settings`` holds each attack's given settings. An attack that is not registered
    here (a torchattacks spec, a plug-in not imported) is its display name."""
    config = AttackConfig(settings=cfg.get("settings") or {})
    return "; ".join(describe_one(a, config) for a in attacks or cfg["attacks"]) + "."


def describe_one(name: str, config: AttackConfig) -> str:
    """One attack in words. Settings its class refuses (a results.json written by hand) are a ValueError, which
    the report turns into its one-line "cannot be drawn" error, as for any other field it cannot read."""
    if name not in ATTACKS:
        return attack_name(name)
    try:
        return ATTACKS[name](config, name).describe()
    except SuiteError as err:
        raise ValueError(f"config.attack.settings: {err}") from None


def toml_value(value) -> str:
    """A default as TOML writes it: true, 10, 2.5, "text"."""
    if isinstance(value, bool):
        return str(value).lower()
    return f'"{value}"' if isinstance(value, str) else repr(value)


def settings_rows() -> list[tuple[str, str, str, str]]:
    """(attack, key, default, meaning) for every setting of every registered attack, by attack name; an attack
    without settings gets one row with key and default "–"."""
    rows = []
    for name in sorted(ATTACKS):
        cls = ATTACKS[name]
        notes = setting_notes(cls)
        fields = dataclasses.fields(cls.Settings)
        rows += [(name, f.name, toml_value(f.default), notes.get(f.name, "")) for f in fields]
        if not fields:
            rows.append((name, "–", "–", "no settings of its own"))
    return rows


def settings_table() -> str:
    """The Markdown section of docs/configuration.md that lists every attack's own settings."""
    lines = [SETTINGS_HEADING, "",
             "One TOML table per attack, e.g. `[attack.pgd]` then `steps = 40`; Python: "
             "`AttackConfig(settings={\"pgd\": {\"steps\": 40}})`. Generated from each attack's `Settings` "
             "(`attacks/<name>.py`; `attacks.catalogue.settings_table`).", "",
             "| attack | key | default | meaning |", "|---|---|---|---|"]
    for name, key, default, note in settings_rows():
        title = ATTACKS[name].title or name.upper()
        shown = f"`{key}`" if key != "–" else key
        value = f"`{default}`" if default != "–" else default
        lines.append(f"| `{name}` ({title}) | {shown} | {value} | {note} |")
    return "\n".join(lines) + "\n"


def settings_help() -> str:
    """The same, short, for ``run_all.py --help``: one line per attack with its keys and defaults."""
    lines = ["each attack's own settings, one TOML table per attack (e.g. [attack.pgd] steps = 40; "
             "meanings: docs/configuration.md):"]
    for name in sorted(ATTACKS):
        fields = dataclasses.fields(ATTACKS[name].Settings)
        keys = ", ".join(f"{f.name} = {toml_value(f.default)}" for f in fields) or "none"
        lines.append(f"  [attack.{name}]  {keys}")
    return "\n".join(lines)
