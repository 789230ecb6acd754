"""Faults armed globally (fixture, admin API, ``serve --fault``) and ``times``/``p`` bookkeeping."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .spec import ENDPOINTS, FaultSpec, check_applicable, parse_fault

if TYPE_CHECKING:
    pass


@dataclass
class FaultRule:
    """A fault armed globally (fixture or admin API) for every matching new connection."""

    id: str
    spec: FaultSpec
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        times = self.spec.get("times")
        return {
            "id": self.id,
            "spec": self.spec.text,
            "fired": self.fired,
            "healed": times is not None and self.fired >= int(times),
        }


class FaultRegistry:
    """Global rules plus the ``times``/``p`` bookkeeping for specs that connections carry."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rules: dict[str, FaultRule] = {}
        self._ids = itertools.count(1)
        self._fired: dict[str, int] = {}  # carried spec text -> connections it fired on
        self._rngs: dict[str, random.Random] = {}

    def add(self, spec: str | FaultSpec) -> FaultRule:
        parsed = parse_fault(spec) if isinstance(spec, str) else spec
        if parsed.name in ("close", "error", "conn_error"):
            # Validate codes now so the caller hears about it, not a later connection.
            for endpoint in ENDPOINTS:
                if parsed.unsupported_on(endpoint) is None:
                    check_applicable(parsed, endpoint)
        rule = FaultRule(f"f{next(self._ids)}", parsed)
        self._rules[rule.id] = rule
        return rule

    def remove(self, rule_id: str) -> bool:
        return self._rules.pop(rule_id, None) is not None

    def rules(self) -> list[FaultRule]:
        return list(self._rules.values())

    def clear(self) -> None:
        """Forget every rule and every ``times``/``p`` count: the next connection starts fresh."""
        self._rules.clear()
        self._fired.clear()
        self._rngs.clear()

    def arm(self, endpoint: str, carried: Iterable[FaultSpec]) -> list[FaultSpec]:
        """The faults a new ``endpoint`` connection gets: its own specs, then global rules.

        Carried specs that cannot apply here raise :class:`FaultSpecError` (the client asked for
        something impossible); global rules that cannot apply are simply skipped.
        """
        carried = list(carried)
        for spec in carried:
            check_applicable(spec, endpoint)  # all or nothing: no count moves for a bad request
        armed: list[FaultSpec] = []
        for spec in carried:
            fired = self._fired.get(spec.text, 0)
            if self._fires(spec, fired):
                self._fired[spec.text] = fired + 1
                armed.append(spec)
        for rule in self._rules.values():
            if rule.spec.unsupported_on(endpoint) is not None:
                continue
            if self._fires(rule.spec, rule.fired, key=rule.id):
                rule.fired += 1
                armed.append(rule.spec)
        return armed

    def _fires(self, spec: FaultSpec, fired: int, key: str | None = None) -> bool:
        times = spec.get("times")
        if times is not None and fired >= int(times):
            return False  # healed
        p = spec.get("p")
        if p is None:
            return True
        rng_key = key or spec.text
        rng = self._rngs.get(rng_key)
        if rng is None:
            rng = self._rngs[rng_key] = random.Random(int(spec.get("seed", self.seed)))
        return rng.random() < float(p)
