"""Roboflow dataset versions: downloaded once with the real `roboflow` client into a cache, offline after that.

Cache layout: `<cache>/roboflow/<workspace>/<project>/<version>/<format>/`, complete when it holds
`.evalaction-complete.json`. A cache hit touches no network and does not import the client.

A miss runs the download in a child process (`_roboflow_worker.py`) under our own deadline, because the client
(1.7.3) sets no timeout on any request and reads `API_URL` once, at import. The export lands in a fresh
staging folder that is renamed into place only when complete, so a failed download (which leaves the server's
error body behind as `roboflow.zip`) or one killed at its deadline leaves nothing in the cache. The client puts
the API key in every URL, so it appears in its exception texts and in urllib3's debug log lines: everything
the child reports is redacted before it reaches a message or a log.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.errors import BadInput, CannotDownloadDataset

if TYPE_CHECKING:
    from evalaction.config import RoboflowSource
    from evalaction.datasets.sources import DataSources

log = logging.getLogger("evalaction.roboflow")

COMPLETE_MARKER = ".evalaction-complete.json"
_QUERY_SECRET = re.compile(r"(?i)(api_key|key|token|signature|x-goog-signature)=[^&\s'\"]+")


@dataclass(frozen=True)
class FetchedExport:
    path: Path
    cache_hit: bool


def redact(text: str, secret: str | None) -> str:
    """`text` without `secret` (plain or URL-encoded) and without the values of key/token query parameters."""
    from urllib.parse import quote

    if secret:
        for form in sorted({secret, quote(secret, safe=""), quote(secret)}, key=len, reverse=True):
            text = text.replace(form, "***")
    return _QUERY_SECRET.sub(r"\1=***", text)


def cache_path(source: RoboflowSource, cache_dir: Path) -> Path:
    """Where a version's export lives in the cache (workspace and project are validated slugs)."""
    return cache_dir / "roboflow" / source.workspace / source.project / str(source.version) / source.format


def fetch_roboflow(source: RoboflowSource, sources: DataSources) -> FetchedExport:
    """The export folder of `source`, from the cache or downloaded into it."""
    target = cache_path(source, sources.cache_dir)
    if (target / COMPLETE_MARKER).is_file():
        log.info("roboflow %s: cache hit at %s", source.key, target)
        return FetchedExport(target, cache_hit=True)
    secret = sources.roboflow_api_key.get_secret_value() if sources.roboflow_api_key else ""
    if not secret:
        raise BadInput(
            f"dataset.roboflow {source.key}: not in the cache ({target}) and ROBOFLOW_API_KEY is not set; "
            "set it (in a workflow: `env: ROBOFLOW_API_KEY: ${{ secrets.ROBOFLOW_API_KEY }}`)"
        )
    if not any(c.islower() for c in secret):
        # the client treats such a key as a placeholder: it never authenticates and fails later, obscurely
        raise BadInput(
            f"dataset.roboflow {source.key}: ROBOFLOW_API_KEY has no lowercase letter, so the roboflow client "
            "treats it as a placeholder; set the real key from your Roboflow workspace settings"
        )
    import importlib.util

    if importlib.util.find_spec("roboflow") is None:
        raise BadInput(
            f"dataset.roboflow {source.key}: the roboflow client is not installed; "
            "`pip install 'evalaction[roboflow]'`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{source.format}.partial-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        export = _download(source, secret, staging, debug=sources.debug)
        if (target / COMPLETE_MARKER).is_file():  # a concurrent run finished first: keep its copy
            log.info("roboflow %s: another run filled the cache meanwhile", source.key)
            return FetchedExport(target, cache_hit=True)
        if target.exists():  # an incomplete folder from an older run (no marker): replace it
            shutil.rmtree(target)
        export.rename(target)
        n_files = sum(1 for p in target.rglob("*") if p.is_file())
        (target / COMPLETE_MARKER).write_text(
            json.dumps(
                {
                    "source": source.key,
                    "files": n_files,
                    "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the error body `roboflow.zip` of a failed download too
    log.info("roboflow %s: downloaded %d files to %s", source.key, n_files, target)
    return FetchedExport(target, cache_hit=False)


def _download(source: RoboflowSource, secret: str, staging: Path, *, debug: bool) -> Path:
    location = staging / "export"
    result_file = staging / "result.json"
    args = {
        "workspace": source.workspace,
        "project": source.project,
        "version": source.version,
        "format": source.format,
        "location": str(location),
        "result": str(result_file),
        "debug": debug,
    }
    worker = (Path(__file__).with_name("_roboflow_worker.py")).read_text(encoding="utf-8")
    what = f"Roboflow download of {source.key}"
    # -P: the child's sys.path gets no script folder (evalaction/datasets holds a roboflow.py of its own)
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", worker, json.dumps(args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=staging,
        text=True,
    )
    try:
        out, err = proc.communicate(secret + "\n", timeout=source.timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        _log_child(out, err, secret)
        raise CannotDownloadDataset(
            f"{what}: no answer within {source.timeout_s:g} s (`dataset.roboflow.timeout_s`); the partial download "
            "was removed; retry, or raise the timeout for a large export"
        ) from None
    _log_child(out, err, secret)
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        tail = redact(
            (err or out or "").strip().splitlines()[-1:][0] if (err or out or "").strip() else "", secret
        )
        raise CannotDownloadDataset(
            f"{what}: the download process exited with code {proc.returncode} without a result ({tail or 'no output'}); "
            "re-run with --debug for the client's log"
        ) from None
    if not result.get("ok"):
        raise CannotDownloadDataset(_failure_message(what, result, secret))
    if not location.is_dir() or not any(location.iterdir()):
        raise CannotDownloadDataset(f"{what}: the client reported success but wrote no files; retry the run")
    return location


def _failure_message(what: str, result: dict[str, object], secret: str) -> str:
    step = str(result.get("step") or "downloading")
    message = " ".join(redact(str(result.get("message") or ""), secret).split())[:300]
    body = result.get("body")
    if body:
        snippet = " ".join(redact(str(body), secret).split())[:200]
        return (
            f"{what}: {step}: the export link sent a non-zip body ({snippet}); the partial download was removed; "
            "check that the version's export exists, then retry"
        )
    hint = "check the API key, workspace, project and version in the plan"
    if "Connection" in str(result.get("type")) or "connect" in message.lower():
        hint = "check the network (or API_URL), then retry"
    return f"{what}: {step} failed ({result.get('type')}: {message or 'no message'}); {hint}"


def _log_child(out: str | None, err: str | None, secret: str) -> None:
    """The client's own output, redacted, at debug level (it prints progress to stdout, logs to stderr)."""
    for stream, text in (("stdout", out), ("stderr", err)):
        for line in (text or "").splitlines():
            if line.strip():
                log.debug("roboflow client %s: %s", stream, redact(line, secret))
