"""The user's own code, named ``package.module:function``: a training method (``--methods my_tricks:make_cutout:8``,
robustness/methods) or a model (``--model mine=my_pkg.nets:make_net:state.pt``, robustness/checkpoints.py).

``names_a_factory`` says whether two words can be such a name (syntax only, nothing imported);
``import_factory`` imports the module and returns the function, or stops with a one-line SuiteError that says what
to make importable, which function is missing, or what the module raised as it ran. Calling the function stays with the caller: what it is passed and
what it must return differ (a Method, an nn.Module).
"""

from __future__ import annotations

import importlib
import re
from typing import Callable

from robustness.errors import SuiteError, one_line

MODULE_PATTERN = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")  # a dotted module path: my_pkg.nets


def names_a_factory(module_name: str, function: str) -> bool:
    """``my_pkg.nets``, ``make_net``: a dotted module path and an identifier."""
    return bool(MODULE_PATTERN.fullmatch(module_name)) and function.isidentifier()


def import_factory(subject: str, module_name: str, function: str, *, alternatives: str = "",
                   returns: str = "") -> Callable:
    """``module_name.function``, imported; else a SuiteError that starts with ``subject`` (e.g. ``"model 'mine'"``).

    ``alternatives`` ends the cannot-import message (e.g. ``", or choose one of: erm, mixup"``), ``returns`` the
    no-such-function one (e.g. ``"; name a function that returns the nn.Module"``)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SuiteError(f"{subject}: cannot import {module_name} ({err}); make it importable "
                         f"(pip install it or set PYTHONPATH){alternatives}") from None
    except Exception as err:  # the user's module failed while it ran (a SyntaxError, its own bug): one line, whatever it was
        raise SuiteError(f"{subject}: importing {module_name} failed with {one_line(err)}; fix the module") from None
    factory = getattr(module, function, None)
    if not callable(factory):
        raise SuiteError(f"{subject}: {module_name} has no function {function!r}{returns}")
    return factory
