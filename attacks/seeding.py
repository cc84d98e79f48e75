"""Seeds for attacks that draw random numbers, independent of the order of work.

Each (attack, ε, source, batch) gets its own seed, and the attack runs inside a
forked generator state, so the streamed matrix, the naive loop and a rerun all
draw the same random starts, and the caller's generator is left untouched.
"""

from __future__ import annotations

import zlib


def craft_seed(base: int, attack: str, eps: float, source: str, start: int) -> int:
    """A stable 31-bit seed for one crafting call (crc32: the same on every machine and run)."""
    return (base * 1_000_003 + zlib.crc32(f"{attack}|{eps!r}|{source}|{start}".encode())) % 2**31
