"""Figures drawn in a second process while the pipeline goes on (issue #16).

Drawing is a fixed cost that does not depend on the verdict: matplotlib's import (~0.3 s) and ~0.07 s a figure,
eleven figures on a small binary run, about a third of a small run's wall time. Every figure is a pure function
of its inputs that writes one PNG (`evalaction.report.plots`, `evalaction.explain.visuals`), so the CLI and the
action hand them to one child process and go on computing on the other core:

    with drawing.in_background():        # the child starts and imports matplotlib while the plan is read
        drawing.draw(plots.roc_curves, path, y, scores, classes)   # queued; returns `path`
        ...
        drawing.wait()                   # every figure written, or the first failure raised here

Outside `in_background` (tests, library callers, one-CPU machines) `draw` draws at once in this process: the
same function on the same inputs, so the PNG files are the same bytes either way. Readiness waits for the figures
before it times anything (latency is timed on a quiet machine, not beside a drawing process), while its memory
probes run; the pipeline waits again before the report, which embeds the files. The child is a fresh interpreter
(`spawn`: no copy of ONNX Runtime's threads), ignores SIGINT (the parent handles it and stops the child), and a
failure of a figure function in it is raised in the parent as if drawn here. The child only adds speed: if it
cannot start or stops, the figures are drawn in this process.

One child, not two: a second one paid for itself on the smallest runs (2.10 s against 2.21 s at 228 rows) and
cost more at 1e5 rows (4.52 s against 4.17 s), where the cores are busy with the k-NN search anyway. Instead, a
pipeline that has to wait for many figures draws some itself (`_share`): 0.91x [0.85, 0.97] the wall time at
228 rows, no change at 1e5 (benchmarks/bench_pipeline.py --against).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_background: ContextVar[_Drawer | None] = ContextVar("evalaction_drawer", default=None)
log = logging.getLogger(__name__)
STEAL_FROM = 4  # figures not started yet when the pipeline waits: this process draws some of them too


def _prepare() -> None:
    """The child's start: ignore SIGINT (the parent stops it) and import what every figure needs."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import matplotlib.figure  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401

    import evalaction.explain.visuals  # noqa: F401
    import evalaction.report.plots  # noqa: F401

    gc.freeze()  # what these imports made is never garbage: the child's exit (waited for) skips it, ~0.15 s


def _ready() -> None:
    """A first task, so the child starts (and imports) now rather than at the first figure."""


@dataclass
class _Job:
    fn: Callable[..., Any]
    path: Path
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: Future[Any] | None  # None: drawn here (the child had stopped when it was submitted)
    drawn: bool = False  # drawn here while waiting (`_share`)


class _Drawer:
    """One child process drawing figures. Speed is all it adds: if the child cannot start or stops (killed, out
    of memory), the figures it had not written are drawn in this process, with a warning in the log; a figure
    function's own error is raised as if it had been drawn here."""

    def __init__(self) -> None:
        import multiprocessing

        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_prepare
        )
        self._pending: list[_Job] = []
        self._broken = False
        self._pool.submit(_ready)

    def submit(self, fn: Callable[..., Any], path: Path, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        future = None
        if not self._broken:
            try:
                # absolute: the child keeps the working folder it started in, should this process change its own
                future = self._pool.submit(fn, Path(path).absolute(), *args, **kwargs)
            except BrokenProcessPool as exc:
                self._stopped(exc)
        self._pending.append(_Job(fn, path, args, kwargs, future))

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        self._share(pending)
        for job in pending:
            if job.drawn:
                continue
            if job.future is not None:
                try:
                    job.future.result()
                    continue
                except BrokenProcessPool as exc:
                    self._stopped(exc)
            job.fn(job.path, *job.args, **job.kwargs)

    def _share(self, pending: list[_Job]) -> None:
        """With many figures not started yet, this process draws from the back of the queue while the child
        goes on from the front, until they meet (a started figure cannot be cancelled). Fewer than STEAL_FROM
        are not worth this process's own matplotlib import (~0.4 s)."""
        queued = [(job, job.future) for job in pending if job.future is not None]
        if len([f for _, f in queued if not (f.running() or f.done())]) < STEAL_FROM:
            return
        for job, future in reversed(queued):
            if not future.cancel():
                return
            job.fn(job.path, *job.args, **job.kwargs)
            job.drawn = True

    def _stopped(self, exc: BaseException) -> None:
        if not self._broken:
            log.warning("the figure process stopped (%s); the remaining figures are drawn in this process", exc)
        self._broken = True

    def queued(self, path: Path) -> bool:
        return any(job.path == path for job in self._pending)

    def close(self, *, cancel: bool) -> None:
        """Wait for the child to exit; with `cancel`, stop it now (an error or an interrupt: its figures are
        not wanted, and a child still importing would hold the exit up)."""
        if cancel:
            terminate = getattr(self._pool, "terminate_workers", None)  # Python 3.14
            if terminate is not None:
                terminate()
            else:
                for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                    process.terminate()
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextmanager
def in_background(enabled: bool = True) -> Iterator[None]:
    """Within the block, `draw` queues figures for a child process; leaving it waits for them (or, on an
    error, stops the child). Nothing changes when `enabled` is false or only one CPU is available."""
    if not enabled or _cpus() < 2 or _background.get() is not None:
        yield
        return
    try:
        drawer = _Drawer()
    except OSError as exc:  # no process or semaphore to be had (a sandbox without /dev/shm): draw here
        log.warning("no figure process (%s); the figures are drawn in this process", exc)
        yield
        return
    token = _background.set(drawer)
    try:
        yield
        drawer.wait()
    except BaseException:
        drawer.close(cancel=True)
        raise
    else:
        drawer.close(cancel=False)
    finally:
        _background.reset(token)


def draw(fn: Callable[..., Path], path: Path, *args: Any, **kwargs: Any) -> Path:
    """`fn(path, *args, **kwargs)`: queued for the figure process inside `in_background`, else drawn now.
    Returns `path` (every figure function writes the file it is given)."""
    drawer = _background.get()
    if drawer is None:
        return Path(fn(path, *args, **kwargs))
    drawer.submit(fn, path, args, kwargs)
    return path


def wait() -> None:
    """Every queued figure written (a failure in the child raised here); a no-op when drawing inline."""
    drawer = _background.get()
    if drawer is not None:
        drawer.wait()


def exists(path: Path) -> bool:
    """The figure is on disk, or queued and will be once `wait` returns."""
    drawer = _background.get()
    return path.is_file() or (drawer is not None and drawer.queued(path))
