"""Exponential backoff with jitter, for reconnecting GATT devices and re-finding a lost adapter."""

from __future__ import annotations

import random


class Backoff:
    """``next()``: min, ~2x, ~4x ... up to max seconds, each +-20 % jitter; ``reset()`` starts over."""

    def __init__(self, min_s: float, max_s: float, *, rng: random.Random | None = None) -> None:
        self.min_s = min_s
        self.max_s = max(max_s, min_s)
        self._rng = rng or random.Random()
        self._attempt = 0

    def next(self) -> float:
        base = min(self.max_s, self.min_s * (2**self._attempt))
        self._attempt = min(self._attempt + 1, 32)
        return base * self._rng.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._attempt = 0
