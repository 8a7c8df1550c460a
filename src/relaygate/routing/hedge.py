"""Hedged requests: when the first deployment has not answered within a threshold, a second one
starts too; whichever commits first (its first streamed event, or its whole answer) wins, and the
other is cancelled. Each attempt holds a `Lease` and must `claim()` it before it sends anything."""

from __future__ import annotations

import asyncio


class Lease:
    """Permission to answer the client; the first attempt to claim it wins the race."""

    __slots__ = ("race",)

    def __init__(self, race: Race | None = None) -> None:
        self.race = race

    def claim(self) -> bool:
        return self.race is None or self.race.claim(self)


SOLE = Lease()  # the lease of an attempt that races nobody


class Race:
    def __init__(self) -> None:
        self.winner: Lease | None = None
        self.entrants: list[tuple[Lease, asyncio.Task[object]]] = []

    def lease(self) -> Lease:
        return Lease(self)

    def enter(self, lease: Lease, task: asyncio.Task[object]) -> None:
        self.entrants.append((lease, task))

    def claim(self, lease: Lease) -> bool:
        if self.winner is None:
            self.winner = lease
            for other, task in self.entrants:
                if other is not lease:
                    task.cancel()
        return self.winner is lease


class LostRace(Exception):
    """Raised by an attempt whose claim came second (both finished in the same instant)."""
