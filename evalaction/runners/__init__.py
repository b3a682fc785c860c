"""Model runners: one protocol, one implementation per model format."""

from __future__ import annotations

from evalaction.runners.base import ModelOutput, ModelRunner
from evalaction.runners.factory import open_runner

__all__ = ["ModelOutput", "ModelRunner", "open_runner"]
