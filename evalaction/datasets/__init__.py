"""Test sets: one `Dataset` protocol, one reader per format (tables, arrays, image folders)."""

from __future__ import annotations

from evalaction.datasets.base import Dataset, load_dataset

__all__ = ["Dataset", "load_dataset"]
