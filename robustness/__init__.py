"""Robustness evaluation suite: does mixup (or your trick) really beat ERM?

    import robustness
    results = robustness.evaluate({"mine": model}, "digits")

The names below load on first use: importing a low layer (``robustness.config``,
say, from ``attacks/``) must not import the entry points, which import everything.
"""

import importlib

_LAZY = {
    "evaluate": "robustness.api",
    "write_report": "robustness.api",
    "benchmark": "robustness.api",
    "PRESETS": "robustness.presets",
    "SuiteConfig": "robustness.config",
    "build_config": "robustness.presets",
    "load_config": "robustness.validation",
    "SuiteError": "robustness.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'robustness' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)  # deferred on purpose: see the module docstring
