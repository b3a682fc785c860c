"""What the caller hears around each stage: the CLI prints timings, the action opens ::group:: blocks.

A floor below `evalaction.pipeline` and every stage, so both the pipeline and the detection stages can take
it without importing each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from evalaction.artifacts import StageTiming


@dataclass
class PipelineHooks:
    """Called around each stage (the CLI prints timings; the action opens ::group:: blocks)."""

    stage_started: Callable[[str], None] = lambda stage: None
    stage_finished: Callable[[str, float], None] = lambda stage, seconds: None
    timings: list[StageTiming] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.stage_started(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - t0
            self.timings.append(StageTiming(stage=name, seconds=round(seconds, 4)))
            self.stage_finished(name, seconds)
