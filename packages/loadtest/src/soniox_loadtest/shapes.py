"""Load profiles as pure functions of elapsed time; the locust shape class just calls them."""

from __future__ import annotations

import math
from dataclasses import dataclass

PROFILES = ("steady", "ramp", "spike")
DEFAULT_DURATION_S = 60.0


@dataclass(frozen=True)
class Profile:
    """``users`` at the peak, reached at ``spawn_rate`` users/s, for ``duration_s`` in total."""

    name: str
    users: int
    spawn_rate: float
    duration_s: float = DEFAULT_DURATION_S
    ramp_steps: int = 5  # ramp: how many equal steps up to ``users``
    spike_base_fraction: float = 0.2  # spike: load outside the spike, as a fraction of ``users``

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            raise ValueError(f"unknown load profile {self.name!r}; choose one of {PROFILES}")
        if self.users < 1 or self.spawn_rate <= 0 or self.duration_s <= 0:
            raise ValueError("a profile needs users >= 1, spawn_rate > 0 and duration_s > 0")

    def target(self, elapsed_s: float) -> tuple[int, float] | None:
        """(users, spawn rate) to run at ``elapsed_s``; None once the profile is over."""
        if elapsed_s >= self.duration_s:
            return None
        if self.name == "steady":
            return self.users, self.spawn_rate
        if self.name == "ramp":
            # Climb in steps over the first 80 % of the run, then hold the peak.
            climb = 0.8 * self.duration_s
            step = min(self.ramp_steps, int(elapsed_s / climb * self.ramp_steps) + 1)
            return max(1, math.ceil(self.users * step / self.ramp_steps)), self.spawn_rate
        # spike: base load, the full load in the middle fifth, base load again.
        base = max(1, math.ceil(self.users * self.spike_base_fraction))
        in_spike = 0.4 * self.duration_s <= elapsed_s < 0.6 * self.duration_s
        # Spawning the spike must be fast to be a spike: all extra users within about a second.
        return (self.users if in_spike else base), max(self.spawn_rate, float(self.users))
