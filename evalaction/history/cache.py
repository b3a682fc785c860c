"""Scores of prior versions, kept between runs: one folder per (model sha256, test-set fingerprint, scoring hash).

Each entry is `<cache_dir>/<key>/entry.json` (the metrics and what they were computed from) beside
`predictions.parquet` (the per-sample predictions, so the next candidate is paired with the version without
running it again). An entry is written last, so a run killed mid-way leaves no entry; an entry that does not
parse, or whose fields do not match its key, is ignored and scored again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalaction.plan import Plan

# under the output folder unless `history.cache_dir` says otherwise; kept across runs (pipeline.output_run)
DEFAULT_CACHE = "history_cache"
ENTRY = "entry.json"
PREDICTIONS = "predictions.parquet"
_FORMAT = 1  # bump when an entry's layout changes


def scoring_hash(plan: Plan, classes: list[str]) -> str:
    """sha256 over what turns weights into today's numbers: task, classes, how the candidate is read and run,
    the metrics, the inference seed and evalaction's version (not the path, not the gates or the statistics)."""
    import evalaction

    spec = plan.models.candidate.model_dump(mode="json", exclude={"path"})
    payload = {
        "format": _FORMAT,
        "evalaction": evalaction.__version__,
        "task": plan.task,
        "classes": classes,
        "model": spec,
        "metrics": plan.metric_list,
        "seed": plan.inference.seed,
        "id_column": plan.dataset.id_column,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_key(model_sha256: str, fingerprint: str, scoring: str) -> str:
    return hashlib.sha256(f"{model_sha256}\n{fingerprint}\n{scoring}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    """One prior version's scores on one test set under one plan."""

    folder: Path
    model_sha256: str
    fingerprint: str
    scoring_hash: str
    overall: dict[str, float | None]

    @property
    def predictions(self) -> Path:
        return self.folder / PREDICTIONS


def lookup(cache_dir: Path, model_sha256: str, fingerprint: str, scoring: str) -> Entry | None:
    """The cached entry, or None (absent, unreadable or not the entry its key names)."""
    folder = cache_dir / cache_key(model_sha256, fingerprint, scoring)
    try:
        raw: dict[str, Any] = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    want = {"format": _FORMAT, "model_sha256": model_sha256, "fingerprint": fingerprint, "scoring_hash": scoring}
    if any(raw.get(k) != v for k, v in want.items()) or not (folder / PREDICTIONS).is_file():
        return None
    overall = raw.get("overall")
    if not isinstance(overall, dict):
        return None
    return Entry(folder, model_sha256, fingerprint, scoring, overall)


def folder_for(cache_dir: Path, model_sha256: str, fingerprint: str, scoring: str) -> Path:
    folder = cache_dir / cache_key(model_sha256, fingerprint, scoring)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store(
    folder: Path, model_sha256: str, fingerprint: str, scoring: str, overall: dict[str, float | None]
) -> Entry:
    """Write the entry (its predictions are already in `folder`); written to a temp name, then renamed."""
    body = {
        "format": _FORMAT,
        "model_sha256": model_sha256,
        "fingerprint": fingerprint,
        "scoring_hash": scoring,
        "overall": overall,
    }
    tmp = folder / (ENTRY + ".tmp")
    tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(folder / ENTRY)
    return Entry(folder, model_sha256, fingerprint, scoring, overall)
