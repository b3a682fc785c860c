"""Test sets: one `Dataset` shape, readers for tables, arrays, image folders, COCO and Roboflow exports."""

from __future__ import annotations

from evalaction.datasets.base import Dataset, ReadOptions
from evalaction.datasets.load import load_dataset, load_plan_datasets

__all__ = ["Dataset", "ReadOptions", "load_dataset", "load_plan_datasets"]
