"""The training-method registry: name -> a ``Method`` subclass (a plain dict filled by a decorator)."""

from __future__ import annotations

from typing import Callable

from robustness.registry import make_register

METHODS: dict[str, type] = {}
_register = make_register(METHODS, "training method")


def register_method(name: str) -> Callable[[type], type]:
    """``@register_method("mixup")`` on a Method subclass: registers it and names it (its spec's head)."""

    def add(cls: type) -> type:
        cls.name = name
        return _register(name)(cls)

    return add
