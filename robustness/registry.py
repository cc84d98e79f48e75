"""Registries as plain dicts filled by decorators (the timm pattern).

Each concern keeps its own dict (data sets, architectures, training methods,
attacks, noise models). A new entry is one decorated function, and tests can
loop over every entry of every registry.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from robustness.errors import SuiteError

F = TypeVar("F", bound=Callable)


def make_register(registry: dict[str, Callable], kind: str) -> Callable[[str], Callable[[F], F]]:
    """Return a decorator factory ``register(name)`` that adds a function to ``registry``."""

    def register(name: str) -> Callable[[F], F]:
        def add(fn: F) -> F:
            if name in registry:
                raise ValueError(f"{kind} {name!r} is registered twice")
            registry[name] = fn
            return fn

        return add

    return register


def lookup(registry: dict[str, Callable], name: str, kind: str) -> Callable:
    """Fetch ``name`` from ``registry`` or raise a one-line error listing the valid names."""
    if name not in registry:
        valid = ", ".join(sorted(registry))
        raise SuiteError(f"unknown {kind} {name!r}; choose one of: {valid}")
    return registry[name]
