"""The seam for progress of long steps (a download, a parse, generator training, t-SNE): the step says
what it does and how far it is; whoever runs the process decides what a person sees.

A leaf module (no hartune imports), so pure code can report progress without printing: the default
sink shows nothing; ``hartune.cli`` installs a terminal one (``hartune.tune.progress``), and a Ray
trial installs one that the driver's live view reads.

    with progress.task("parsing pamap2", total=9) as t:
        for f in files:
            ...
            t.advance()
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Task:
    """One long step: ``completed`` of ``total`` units (None: unknown), started at ``started``."""

    description: str
    total: float | None = None
    completed: float = 0.0
    unit: str = ""  # "B" shows sizes (a download); "" plain counts
    started: float = field(default_factory=time.monotonic)
    _sink: Sink | None = None

    def advance(self, n: float = 1.0) -> None:
        self.completed += n
        if self._sink is not None:
            self._sink.update(self)

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started


class Sink(Protocol):
    """Where tasks are shown: told when a task starts, advances and ends."""

    def start(self, task: Task) -> None: ...

    def update(self, task: Task) -> None: ...

    def end(self, task: Task) -> None: ...


class NullSink:
    def start(self, task: Task) -> None:
        pass

    def update(self, task: Task) -> None:
        pass

    def end(self, task: Task) -> None:
        pass


_sink: Sink = NullSink()


def set_sink(sink: Sink | None) -> Sink:
    """Install ``sink`` (None: show nothing); returns the one it replaces."""
    global _sink
    previous, _sink = _sink, sink or NullSink()
    return previous


@contextlib.contextmanager
def task(description: str, total: float | None = None, unit: str = "") -> Iterator[Task]:
    t = Task(description, total, unit=unit, _sink=_sink)
    _sink.start(t)
    try:
        yield t
    finally:
        _sink.end(t)
