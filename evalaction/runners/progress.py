"""Progress reporting for long inference passes, chosen by the caller so runners and stages do no I/O.

A runner calls `hook.update(n)` after each batch (n samples just finished) and `hook.close()` at the end. The
CLI hands the stage a `ProgressFactory`: `terminal_progress(sys.stderr)` draws a tqdm bar with samples/s on a
terminal and writes one line per 10 % otherwise (CI logs keep every line, so a bar's carriage returns would
flood them). Tests get `no_progress` unless they ask.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TextIO


class ProgressHook(Protocol):
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


ProgressFactory = Callable[[str, int], ProgressHook]
"""(label, total samples) -> a hook for one pass."""


class NoProgress:
    """Reports nothing."""

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def no_progress(label: str, total: int) -> ProgressHook:
    return NoProgress()


class LineProgress:
    """One line per 10 % step: `candidate: 40% (144/360 samples, 5210 samples/s)`."""

    def __init__(self, label: str, total: int, stream: TextIO, clock: Callable[[], float] = time.perf_counter):
        self.label, self.total, self.stream, self.clock = label, max(total, 0), stream, clock
        self.done = 0
        self.next_step = 1  # the next tenth to report
        self.started = clock()
        self.closed = False

    def update(self, n: int) -> None:
        self.done += n
        if self.total == 0:
            return
        tenth = min(10, self.done * 10 // self.total)
        if tenth >= self.next_step:
            self.next_step = tenth + 1
            self._line(tenth * 10)

    def _line(self, pct: int) -> None:
        elapsed = self.clock() - self.started
        rate = f"{self.done / elapsed:.0f} samples/s" if elapsed > 0 else "- samples/s"
        self.stream.write(f"{self.label}: {pct}% ({self.done}/{self.total} samples, {rate})\n")
        self.stream.flush()

    def close(self) -> None:
        self.closed = True


class TqdmProgress:
    """A tqdm bar counting samples, with samples/s."""

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=label, unit="samples", unit_scale=True, file=stream, leave=True)

    def update(self, n: int) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


def terminal_progress(stream: TextIO) -> ProgressFactory:
    """A bar when `stream` is a terminal, one line per 10 % otherwise."""
    is_tty = bool(getattr(stream, "isatty", lambda: False)())

    def factory(label: str, total: int) -> ProgressHook:
        return TqdmProgress(label, total, stream) if is_tty else LineProgress(label, total, stream)

    return factory
