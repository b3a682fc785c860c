"""Seconds spent importing modules, so `--debug` timings split each stage into imports and work.

A meta path finder placed first on `sys.meta_path` wraps each module's loader and times its `exec_module`;
only the outermost import is counted (a module's own imports are part of its time), so the total is the wall time
the process spent inside imports. Installed by the CLI with `--debug` only.
"""

from __future__ import annotations

import importlib.abc
import sys
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any


class ImportClock(importlib.abc.MetaPathFinder):
    """Counts the wall seconds spent executing imported modules (outermost imports only)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0
        self._finding = False

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if self._finding:  # our own lookup below: let the other finders answer
            return None
        self._finding = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._finding = False
        loader = spec.loader
        if loader is not None and hasattr(loader, "exec_module") and not isinstance(loader, _Timed):
            spec.loader = _Timed(loader, self)
        return spec

    def timed(self, fn: Any, arg: Any) -> Any:
        self._depth += 1
        t0 = time.perf_counter()
        try:
            return fn(arg)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.seconds += time.perf_counter() - t0

    def install(self) -> ImportClock:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)
        return self


class _Timed(importlib.abc.Loader):
    def __init__(self, loader: Any, clock: ImportClock) -> None:
        self._loader, self._clock = loader, clock

    def create_module(self, spec: Any) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        # an extension module does its work here (loading the shared library)
        return self._clock.timed(create, spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        self._clock.timed(self._loader.exec_module, module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, get_source, ...
        return getattr(self._loader, name)
