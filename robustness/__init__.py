"""Robustness evaluation suite: does mixup (or your trick) really beat ERM?"""

from robustness.api import evaluate, write_report
from robustness.config import PRESETS, SuiteConfig, build_config
from robustness.errors import SuiteError

__all__ = ["PRESETS", "SuiteConfig", "SuiteError", "build_config", "evaluate", "write_report"]
