"""The benchmark harness: timing helpers and the result table every bench module feeds.

A benchmark measures buildsig and, in the same run, the peer tool or the physical floor it
should be judged against, so every figure comes with its ratio. Timing uses the best of
several repeats (the least disturbed run), which is the usual choice for throughput.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any


@dataclasses.dataclass
class Row:
    """One measured figure, with what it is compared against."""

    name: str
    value: float
    unit: str
    peer: str | None = None
    peer_value: float | None = None
    higher_is_better: bool = True
    target: str | None = None
    target_met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.peer_value is None or self.peer_value == 0 or self.value == 0:
            return None
        if self.higher_is_better:
            return self.value / self.peer_value
        return self.peer_value / self.value


@dataclasses.dataclass
class Benchmark:
    """A named benchmark: a function returning rows."""

    name: str
    run: Callable[[bool], list[Row]]  # argument: quick mode


def ops_per_second(fn: Callable[[], Any], *, min_time: float = 0.3, repeat: int = 5) -> float:
    """Calls per second of ``fn``: best of ``repeat`` batches, each at least ``min_time`` s."""
    n = 1
    while True:  # calibrate the batch size
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time / 4:
            break
        n *= 2
    n = max(1, int(n * (min_time / max(elapsed, 1e-9))))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def command_seconds(
    argv: Sequence[str], *, repeat: int = 15, env: dict[str, str] | None = None
) -> float:
    """Median wall time of running a command to completion (it must exit 0)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def have(tool: str) -> bool:
    """Whether a peer command is installed (benchmarks say so rather than skip silently)."""
    return shutil.which(tool) is not None


PYTHON = sys.executable
